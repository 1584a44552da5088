/**
 * Keeps one destination connected: the first connection is made (and its failure
 * reported) by `start()`; after that, a lost connection is re-established with backoff,
 * at once when the network comes back, hop by hop through the pool. A client waiting
 * for the connection cuts the backoff short (to DEMAND_SPACING_MS after the last
 * attempt): after a long outage the backoff is at its cap (30 s), longer than a client
 * waits (10 s), and the client that finds the server back must not be refused. Failures that
 * another attempt cannot fix (authentication refused, host key changed, no terminal
 * to answer a prompt) end the supervisor instead: never an authentication loop.
 *
 * States reach the bus as `session-state` events: connecting → authenticating →
 * connected → reconnecting → ... → closed.
 */
import { BurrowError, toBurrowError, type ErrorCode } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ResolvedHost } from '../config/types.js';
import type { SessionHandle } from './handle.js';
import type { Lease, SessionPool } from './pool.js';
import type { Session } from './session.js';
import { Backoff, type BackoffOptions } from './liveness/backoff.js';
import { watchNetwork } from './liveness/network-watch.js';

const FATAL: ReadonlySet<ErrorCode> = new Set([
  'AUTH_FAILED', 'AUTH_NEEDS_TTY', 'HOST_KEY_MISMATCH', 'HOST_KEY_REVOKED', 'HOST_KEY_REJECTED', 'HOST_KEY_UNKNOWN',
  'CONFIG', 'USAGE', 'KEY_UNREADABLE', 'ABORTED',
]);
/** Waiting clients bring the next attempt forward, but no closer than this to the last one. */
const DEMAND_SPACING_MS = 1000;
/** A ProxyCommand that keeps failing may be failing to authenticate: stop after this many in a row. */
const MAX_PROXY_COMMAND_FAILURES = 5;

export interface SupervisorOptions {
  pool: SessionPool;
  config: ResolvedHost;
  handle: SessionHandle;
  bus?: EventBus;
  /** Reconnect after a loss; default true. */
  reconnect?: boolean;
  backoff?: BackoffOptions;
  /** Runs after every (re)connection, e.g. to request remote forwards again. A throw ends the supervisor. */
  onConnected?: (session: Session, reconnected: boolean) => Promise<void>;
  /** Called when a reconnect wait starts, for messages. */
  onRetry?: (delayMs: number, cause: BurrowError) => void;
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  #lease: Lease | undefined;
  #connectedAt = 0;
  /** While sleeping before a reconnect attempt: brings the attempt forward. */
  #demand: (() => void) | undefined;
  #endResolve!: (e: BurrowError | undefined) => void;
  /** Settles once: with the error that ended it, or undefined when closed on purpose. */
  readonly ended: Promise<BurrowError | undefined>;
  #ended = false;
  /** Completed reconnections (for status and tests). */
  reconnects = 0;

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#backoff = new Backoff(opts.backoff);
    this.ended = new Promise((r) => (this.#endResolve = r));
    opts.handle.onDemand = () => this.#demand?.();
  }

  get session(): Session | undefined {
    return this.#lease?.session;
  }

  /** First connection; rejects with its error (no retry: the user is watching). */
  async start(signal?: AbortSignal): Promise<Session> {
    const lease = await this.#opts.pool.acquire(this.#opts.config, { signal });
    await this.#adopt(lease, false);
    return lease.session;
  }

  async #adopt(lease: Lease, reconnected: boolean): Promise<void> {
    const old = this.#lease;
    this.#lease = lease;
    this.#connectedAt = Date.now();
    this.#opts.handle.set(lease.session);
    // Release the old lease only now, so a jump host still in use is not closed and re-authenticated.
    await old?.release();
    // A network change under a live connection (new Wi-Fi, VPN up) may have killed it silently.
    const stopWatch = watchNetwork(() => lease.session.probeNow('after a network change'));
    lease.session.once('close', (err?: BurrowError) => {
      stopWatch();
      if (this.#lease !== lease || this.#ended) return;
      if (!err) return this.#end(undefined);
      if (this.#opts.reconnect === false) return this.#end(err);
      void this.#reconnect(err);
    });
    if (reconnected) this.reconnects++;
    await this.#opts.onConnected?.(lease.session, reconnected);
  }

  async #reconnect(cause: BurrowError): Promise<void> {
    const { bus, config, handle } = this.#opts;
    handle.set(undefined);
    if (Date.now() - this.#connectedAt > this.#backoff.stableMs) this.#backoff.reset();
    bus?.emit({ type: 'session-state', destination: config.alias, state: 'reconnecting', error: { code: cause.code, message: cause.message } });
    let proxyFailures = 0;
    let last = cause;
    while (!this.#stop.signal.aborted) {
      const delay = this.#backoff.next();
      this.#opts.onRetry?.(delay, last);
      await this.#wait(delay);
      if (this.#stop.signal.aborted) return;
      let lease: Lease;
      try {
        lease = await this.#opts.pool.acquire(config, { signal: this.#stop.signal });
      } catch (e) {
        last = toBurrowError(e, 'CONNECT_FAILED', 'connect');
        if (this.#stop.signal.aborted) return;
        if (FATAL.has(last.code)) return this.#end(last);
        if (last.code === 'PROXY_COMMAND_FAILED' && ++proxyFailures >= MAX_PROXY_COMMAND_FAILURES) {
          return this.#end(new BurrowError('PROXY_COMMAND_FAILED', `${last.message}; giving up after ${proxyFailures} attempts in a row (it may be failing to log in)`, { phase: 'connect', cause: last }));
        }
        continue;
      }
      try {
        await this.#adopt(lease, true);
      } catch (e) {
        return this.#end(toBurrowError(e));
      }
      return;
    }
  }

  /**
   * Sleeps `ms` after an attempt, cut short by a network change or by close(), and
   * shortened by a client that waits (to DEMAND_SPACING_MS after the attempt).
   */
  #wait(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const since = Date.now();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopWatch();
        this.#demand = undefined;
        this.#stop.signal.removeEventListener('abort', done);
        resolve();
      };
      let timer = setTimeout(done, ms);
      let shortened = false;
      this.#demand = () => {
        if (shortened || ms <= DEMAND_SPACING_MS) return;
        shortened = true;
        clearTimeout(timer);
        timer = setTimeout(done, Math.max(0, since + DEMAND_SPACING_MS - Date.now()));
      };
      const stopWatch = watchNetwork(done);
      this.#stop.signal.addEventListener('abort', done, { once: true });
      // Clients that arrived during the attempt that just failed are waiting already.
      if (this.#opts.handle.waiting > 0) this.#demand();
    });
  }

  #end(err: BurrowError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop.abort();
    this.#opts.handle.fail(err ?? new BurrowError('SESSION_CLOSED', `the connection to ${this.#opts.config.alias} is closed`, { phase: 'session' }));
    if (err && err.code !== 'DISCONNECTED') {
      this.#opts.bus?.emit({ type: 'session-state', destination: this.#opts.config.alias, state: 'closed', error: { code: err.code, message: err.message } });
    }
    this.#endResolve(err);
  }

  /** Stops reconnecting and releases the session. */
  async close(): Promise<void> {
    this.#end(undefined);
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.release();
  }

  /** Stops reconnecting and cuts the session now. */
  destroy(): void {
    this.#end(undefined);
    this.#lease?.session.destroy();
    this.#lease = undefined;
  }
}
