/**
 * The forward layer: local (-L), remote (-R) and dynamic (-D) forwards over any
 * {@link ChannelOpener} (a burrow `Session`, or a test adapter).
 */
import { parseForwardSpec, type ForwardSpec } from '../config/forward-spec.js';
import type { ChannelOpener } from '../ssh/channels.js';
import { DynamicForward } from './dynamic.js';
import { LocalForward } from './local.js';
import { RemoteForward } from './remote.js';
import type { Forward, ForwardOptions } from './types.js';

export type { Forward, ForwardAddress, ForwardOptions, ForwardStats } from './types.js';
export { LocalForward } from './local.js';
export { RemoteForward } from './remote.js';
export { DynamicForward } from './dynamic.js';
export { joinStreams, type Join, type JoinOptions, type JoinResult } from './pipe.js';
export { SocksHandshake, Socks5Reply, type SocksRequest, type SocksStep } from './socks.js';

/** Creates a forward of the spec's kind without starting it. */
export function createForward(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}): Forward {
  switch (spec.kind) {
    case 'local':
      return new LocalForward(spec, opener, opts);
    case 'remote':
      return new RemoteForward(spec, opener, opts);
    case 'dynamic':
      return new DynamicForward(spec, opener, opts);
  }
}

/**
 * Creates a forward and starts it: resolves once it listens (locally, or on the
 * server for -R), rejects with a BurrowError (`PORT_IN_USE`, `PORT_PRIVILEGED`,
 * `BIND_FAILED`, `FORWARD_REFUSED`, `ABORTED`). `spec` may be a parsed spec or
 * `{ kind, text }` in OpenSSH syntax.
 *
 * @example
 * const bus = new EventBus();
 * const fwd = await startForward(parseForwardSpec('local', '5555:localhost:6666'), session, { bus });
 * console.log(fwd.label); // 127.0.0.1:5555 → localhost:6666 via mahuika
 * // ... later
 * await fwd.close();      // stop listening, let open connections finish
 *
 * @example
 * const r = await startForward({ kind: 'remote', text: '0:localhost:8888' }, session);
 * r.address(); // { type: 'tcp', port: 40123, hosts: ['localhost'] }: the port the server picked
 */
export async function startForward(
  spec: ForwardSpec | { kind: ForwardSpec['kind']; text: string },
  opener: ChannelOpener,
  opts: ForwardOptions & { signal?: AbortSignal } = {},
): Promise<Forward> {
  const parsed = 'listen' in spec ? spec : parseForwardSpec(spec.kind, spec.text);
  const fwd = createForward(parsed, opener, opts);
  await fwd.start(opts.signal ? { signal: opts.signal } : {});
  return fwd;
}
