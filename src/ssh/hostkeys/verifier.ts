/**
 * The host-key decision OpenSSH makes in `check_host_key`, as an ssh2 `hostVerifier`.
 * The decision is made once per key shown; a refusal leaves a BurrowError behind for the
 * caller to throw instead of ssh2's generic "Host denied (verification failed)".
 */
import { BurrowError, toBurrowError } from '../../errors.js';
import type { StrictHostKeyChecking } from '../../config/types.js';
import { fingerprintSha256, keyTypeOf } from './keyblob.js';
import { appendKnownHost, lookupKnownHosts, type KnownHostEntry } from './known-hosts.js';
import { knownHostsName } from './patterns.js';
import * as msg from './messages.js';

export interface HostKeyPolicy {
  /** HostName actually connected to (or HostKeyAlias when set). */
  host: string;
  port: number;
  /** When set, keys are filed under this name and the port is not part of it (as OpenSSH). */
  hostKeyAlias?: string;
  /** Expanded paths; the first one is where new keys are appended. */
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strict: StrictHostKeyChecking;
  /** For 'ask': show the question, return the user's answer line (undefined = cannot ask, e.g. no TTY). */
  ask?: (question: string) => Promise<string | undefined>;
  onWarning?: (message: string) => void;
  /** Append new keys with hashed host names (`HashKnownHosts yes`). Default: plain. */
  hashKnownHosts?: boolean;
}

export interface HostVerifier {
  /** Pass as ssh2's `hostVerifier` — it must be the (key, callback) form: an async function is treated as "accept" by ssh2 (see ssh2-notes.md). */
  verify: (key: Buffer, callback: (ok: boolean) => void) => void;
  /** After a refusal: the BurrowError explaining it (for the caller to throw instead of ssh2's generic error). */
  readonly error: BurrowError | undefined;
}

/**
 * Builds an ssh2 `hostVerifier` that applies OpenSSH's known_hosts rules:
 * a known matching key passes; a changed key, a key of a type not yet known for a known
 * host (except under 'ask') and a `@revoked` key are refused whatever `strict` says;
 * an unknown host is refused ('yes'), asked about ('ask') or added ('accept-new', 'no').
 *
 * @example
 * const hv = createHostVerifier({
 *   host: 'mahuika.nesi.org.nz', port: 22, strict: 'accept-new',
 *   userKnownHostsFiles: [`${homedir()}/.ssh/known_hosts`], globalKnownHostsFiles: ['/etc/ssh/ssh_known_hosts'],
 *   onWarning: (m) => console.error(m),
 * });
 * const client = new Client();
 * client.on('error', (e) => reject(hv.error ?? e));
 * client.connect({ host: 'mahuika.nesi.org.nz', username: 'me', hostVerifier: hv.verify });
 */
export function createHostVerifier(policy: HostKeyPolicy): HostVerifier {
  let error: BurrowError | undefined;
  const verify = (key: Buffer, callback: (ok: boolean) => void): void => {
    decide(policy, key).then(
      (refusal) => {
        error = refusal;
        callback(refusal === undefined);
      },
      (e: unknown) => {
        error = toBurrowError(e, 'INTERNAL', 'hostkey');
        callback(false);
      },
    );
  };
  return {
    verify,
    get error() {
      return error;
    },
  };
}

/** Where keys of this policy are filed: the alias ignores the port, like OpenSSH. */
function lookupTarget(policy: HostKeyPolicy): { host: string; port: number } {
  return policy.hostKeyAlias ? { host: policy.hostKeyAlias, port: 22 } : { host: policy.host, port: policy.port };
}

/** The known (non-revoked, non-CA) key types for the policy's host, in file order. */
export async function knownHostKeyTypes(policy: HostKeyPolicy): Promise<string[]> {
  const { host, port } = lookupTarget(policy);
  const entries = await lookupKnownHosts([...policy.userKnownHostsFiles, ...policy.globalKnownHostsFiles], host, port);
  return [...new Set(entries.filter((e) => e.marker === undefined).map((e) => e.keyType))];
}

/** Resolves to undefined to accept, or to the error that explains the refusal. */
async function decide(policy: HostKeyPolicy, key: Buffer): Promise<BurrowError | undefined> {
  const { host, port } = lookupTarget(policy);
  const name = knownHostsName(host, port);
  const keyType = keyTypeOf(key);
  if (keyType === undefined) return msg.malformedKeyError(name);
  const presented: msg.Presented = {
    name,
    host,
    port,
    scanHost: policy.host,
    scanPort: policy.port,
    keyType,
    fingerprint: fingerprintSha256(key),
  };

  const files = [...policy.userKnownHostsFiles, ...policy.globalKnownHostsFiles];
  const entries = await lookupKnownHosts(files, host, port, (p) =>
    policy.onWarning?.(p.line ? `${p.file}:${p.line}: ${p.reason}; line ignored` : `${p.file}: ${p.reason}; file ignored`),
  );
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return msg.revokedError(presented, revoked);
  const keys = entries.filter((e) => e.marker === undefined);
  if (keys.some((e) => e.key.equals(key))) return undefined;
  // A changed key is refused even under StrictHostKeyChecking=no. OpenSSH would connect
  // there with forwarding disabled; a tunnel tool without forwarding is useless, and
  // connecting anyway would hand the tunnel's traffic to whoever holds the new key.
  const changed = keys.find((e) => e.keyType === keyType);
  if (changed) return msg.mismatchError(presented, changed);
  return unknownHost(policy, presented, key, keys);
}

async function unknownHost(
  policy: HostKeyPolicy,
  p: msg.Presented,
  key: Buffer,
  otherTypes: readonly KnownHostEntry[],
): Promise<BurrowError | undefined> {
  const appendTo = policy.userKnownHostsFiles[0];
  if (policy.strict === 'yes') {
    return otherTypes.length > 0 ? msg.otherTypeError(p, otherTypes) : msg.unknownError(p, 'strict', appendTo);
  }
  if (policy.strict === 'ask') {
    const answer = policy.ask ? await policy.ask(msg.askQuestion(p, otherTypes.length > 0)) : undefined;
    if (answer === undefined) return msg.unknownError(p, 'cannot-ask', appendTo);
    const a = answer.trim();
    if (a.toLowerCase() !== 'yes' && a !== p.fingerprint) return msg.rejectedError(p, a);
  } else if (otherTypes.length > 0) {
    // OpenSSH's accept-new/no would add a second key type here, which lets an attacker
    // who offers a new key type in. Only a person who saw the fingerprint may do that.
    return msg.otherTypeError(p, otherTypes);
  }
  await remember(policy, p, key, appendTo);
  return undefined;
}

/** Adds the key; failure to write is a warning, not a refusal (as in OpenSSH). */
async function remember(policy: HostKeyPolicy, p: msg.Presented, key: Buffer, file: string | undefined): Promise<void> {
  if (file === undefined) {
    policy.onWarning?.(`No UserKnownHostsFile to add the key of ${p.name} to; it will be asked about again.`);
    return;
  }
  try {
    await appendKnownHost(file, p.host, p.port, key, { hash: policy.hashKnownHosts ?? false });
    policy.onWarning?.(msg.addedWarning(p, file));
  } catch (e) {
    policy.onWarning?.(`Failed to add the host key of ${p.name} to ${file}: ${(e as Error).message}`);
  }
}
