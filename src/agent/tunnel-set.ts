/**
 * The forwards of one destination over its shared session: what `burrow -N -L ... host`
 * runs in the foreground and what the agent will keep alive. Local and dynamic
 * listeners bind first (a taken port is reported before anyone is asked for a second
 * factor), then the session connects, then remote forwards are requested.
 *
 * @example
 * const set = await TunnelSet.open({ pool, config, specs, bus });
 * await set.lost; // resolves when the connection drops
 * await set.close();
 */
import { BurrowError, toBurrowError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ResolvedHost } from '../config/types.js';
import type { ForwardSpec } from '../config/forward-spec.js';
import { createForward } from '../forward/index.js';
import type { Forward, ForwardStats } from '../forward/types.js';
import { SessionHandle } from '../ssh/handle.js';
import type { Lease, SessionPool } from '../ssh/pool.js';
import type { Session } from '../ssh/session.js';

export interface TunnelSetOptions {
  pool: SessionPool;
  config: ResolvedHost;
  specs: ForwardSpec[];
  bus?: EventBus;
  /** Default: the config's ExitOnForwardFailure. */
  exitOnForwardFailure?: boolean;
  signal?: AbortSignal;
}

export class TunnelSet {
  readonly forwards: Forward[];
  /** Forwards that could not start (only when ExitOnForwardFailure is off). */
  readonly failures: BurrowError[];
  /** Settles when the session ends: with the error when it was lost, undefined when closed by us. */
  readonly lost: Promise<BurrowError | undefined>;
  readonly #lease: Lease;
  readonly #handle: SessionHandle;

  private constructor(forwards: Forward[], failures: BurrowError[], lease: Lease, handle: SessionHandle) {
    this.forwards = forwards;
    this.failures = failures;
    this.#lease = lease;
    this.#handle = handle;
    this.lost = new Promise((resolve) => lease.session.once('close', (err?: BurrowError) => resolve(err)));
  }

  get session(): Session {
    return this.#lease.session;
  }

  totals(): ForwardStats {
    const t: ForwardStats = { active: 0, total: 0, bytesIn: 0, bytesOut: 0, failed: 0 };
    for (const f of this.forwards) {
      const s = f.stats;
      t.active += s.active;
      t.total += s.total;
      t.bytesIn += s.bytesIn;
      t.bytesOut += s.bytesOut;
      t.failed += s.failed;
    }
    return t;
  }

  static async open(opts: TunnelSetOptions): Promise<TunnelSet> {
    const { config, bus } = opts;
    const strict = opts.exitOnForwardFailure ?? config.exitOnForwardFailure;
    const handle = new SessionHandle(config.alias);
    const started: Forward[] = [];
    const failures: BurrowError[] = [];
    const fopts = { bus, gatewayPorts: config.gatewayPorts };

    const startAll = async (specs: ForwardSpec[]) => {
      for (const spec of specs) {
        const f = createForward(spec, handle, fopts);
        try {
          await f.start({ signal: opts.signal });
          started.push(f);
        } catch (e) {
          const err = toBurrowError(e, 'BIND_FAILED', 'forward');
          if (strict) throw err;
          failures.push(err);
        }
      }
    };

    let lease: Lease | undefined;
    try {
      await startAll(opts.specs.filter((s) => s.kind !== 'remote'));
      lease = await opts.pool.acquire(config, { signal: opts.signal });
      handle.set(lease.session);
      await startAll(opts.specs.filter((s) => s.kind === 'remote'));
    } catch (e) {
      for (const f of started) f.destroy();
      const err = toBurrowError(e);
      handle.fail(err);
      await lease?.release();
      throw err;
    }
    const set = new TunnelSet(started, failures, lease, handle);
    lease.session.once('close', (err?: BurrowError) => handle.fail(err ?? new BurrowError('SESSION_CLOSED', `the connection to ${config.alias} is closed`, { phase: 'session' })));
    return set;
  }

  /** Stops listening, lets open connections finish (bounded by `graceMs`), then releases the session. */
  async close(graceMs = 5000): Promise<void> {
    const drained = Promise.all(this.forwards.map((f) => f.close()));
    const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([drained, timer]);
    for (const f of this.forwards) f.destroy();
    await this.#lease.release();
  }

  /** Cuts everything now. */
  destroy(): void {
    for (const f of this.forwards) f.destroy();
    this.#handle.fail(new BurrowError('SESSION_CLOSED', 'closed', { phase: 'session' }));
    this.#lease.session.destroy();
  }
}
