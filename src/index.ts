/**
 * burrow as a library: everything the CLI does, a program can do.
 *
 * @example
 * import { resolveHost, SessionPool, TunnelSet, parseForwardSpec, EventBus, carryHop } from 'burrow';
 * const bus = new EventBus();
 * const config = await resolveHost('mahuika');
 * const pool = new SessionPool({ resolve: (d) => resolveHost(d), bus, carryHop });
 * const set = await TunnelSet.open({ pool, config, specs: [parseForwardSpec('local', '5555:localhost:6666')], bus });
 */
export * from './errors.js';
export * from './events.js';
export * from './lifecycle.js';
export type * from './ssh/channels.js';
export type * from './config/types.js';
export type * from './prompt.js';
export { resolveHost, parseOptionArg, parseDestination, type ResolveOptions } from './config/ssh-config/index.js';
export { parseForwardSpec, formatEndpoint, type ForwardSpec, type ListenEndpoint, type TargetEndpoint } from './config/forward-spec.js';
export { checkLocalPort, describePortHolder } from './config/ports.js';
export { Session, type SessionOptions } from './ssh/session.js';
export { SessionPool, type Lease, type PoolOptions } from './ssh/pool.js';
export { SessionHandle } from './ssh/handle.js';
export { Supervisor, type SupervisorOptions } from './ssh/supervisor.js';
export { createHostVerifier, fingerprintSha256, type HostKeyPolicy } from './ssh/hostkeys/index.js';
export { cryptoStatus } from './ssh/crypto-status.js';
export { createForward, startForward, type Forward, type ForwardOptions, type ForwardStats, type ForwardAddress } from './forward/index.js';
export { carryHop } from './forward/hop-carrier.js';
export { TunnelSet, type TunnelSetOptions } from './agent/tunnel-set.js';
export { startDemoSshServer, runDemo } from './demo/index.js';
