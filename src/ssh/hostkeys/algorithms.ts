/**
 * Host key algorithm order, as OpenSSH's `order_hostkeyalgs`: ask the server first for
 * the key types already known for this host. Without it, a cluster known only by its
 * RSA key (old known_hosts files) would be asked for ED25519, ssh2's first choice, and
 * the verifier would refuse an unknown key type for a known host.
 */
import { createRequire } from 'node:module';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { hostKeyAlgorithmsFor } from './keyblob.js';
import { knownHostKeyTypes, type HostKeyPolicy } from './verifier.js';

const require = createRequire(import.meta.url);
// ssh2 has no exports map; its default list depends on what the runtime's crypto offers.
const { DEFAULT_SERVER_HOST_KEY } = require('ssh2/lib/protocol/constants.js') as {
  DEFAULT_SERVER_HOST_KEY: ServerHostKeyAlgorithm[];
};

/**
 * `defaults` reordered so that algorithms for `knownTypes` (in their order) come first.
 * Nothing is added that `defaults` lacks.
 */
export function preferHostKeyAlgorithms(
  knownTypes: readonly string[],
  defaults: readonly ServerHostKeyAlgorithm[] = DEFAULT_SERVER_HOST_KEY,
): ServerHostKeyAlgorithm[] {
  const supported = (a: string): a is ServerHostKeyAlgorithm => (defaults as readonly string[]).includes(a);
  const first = knownTypes.flatMap(hostKeyAlgorithmsFor).filter(supported);
  return [...new Set([...first, ...defaults])];
}

/**
 * The value for ssh2's `algorithms.serverHostKey` for this policy's host.
 *
 * @example
 * client.connect({ host, port, username, hostVerifier: hv.verify,
 *   algorithms: { serverHostKey: await preferredHostKeyAlgorithms(policy) } });
 */
export async function preferredHostKeyAlgorithms(policy: HostKeyPolicy): Promise<ServerHostKeyAlgorithm[]> {
  return preferHostKeyAlgorithms(await knownHostKeyTypes(policy));
}
