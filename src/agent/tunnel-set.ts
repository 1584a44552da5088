/**
 * The forwards of one destination over its shared, supervised session: what
 * `burrow -N -L ... host` runs in the foreground and what the agent will keep alive.
 * Local and dynamic listeners bind first (a taken port is reported before anyone is
 * asked for a second factor) and stay bound across reconnects; remote forwards are
 * requested after every (re)connection.
 *
 * @example
 * const set = await TunnelSet.open({ pool, config, specs, bus });
 * const err = await set.ended; // a fatal error, or undefined after close()
 * await set.close();
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BurrowError, toBurrowError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { ResolvedHost } from '../config/types.js';
import type { ForwardSpec } from '../config/forward-spec.js';
import { createForward } from '../forward/index.js';
import type { Forward, ForwardOptions, ForwardStats } from '../forward/types.js';
import { SessionHandle } from '../ssh/handle.js';
import type { SessionPool } from '../ssh/pool.js';
import type { Session } from '../ssh/session.js';
import { Supervisor } from '../ssh/supervisor.js';
import type { BackoffOptions } from '../ssh/liveness/backoff.js';

export interface TunnelSetOptions {
  pool: SessionPool;
  config: ResolvedHost;
  specs: ForwardSpec[];
  bus?: EventBus;
  /** Default: the config's ExitOnForwardFailure. */
  exitOnForwardFailure?: boolean;
  /** Re-establish a lost connection; default true. */
  reconnect?: boolean;
  backoff?: BackoffOptions;
  /** How long a new client waits for a (re)connection before it is refused (ms); default 10 s. */
  clientWaitMs?: number;
  signal?: AbortSignal;
}

export class TunnelSet {
  /** Local and dynamic forwards (stable), then the current remote ones. */
  get forwards(): Forward[] {
    return [...this.#local, ...this.#remote];
  }
  /** Forwards that could not start (only when ExitOnForwardFailure is off). */
  readonly failures: BurrowError[] = [];
  readonly #local: Forward[] = [];
  #remote: Forward[] = [];
  /** The ids of the remote forwards, by spec, once granted: kept across reconnects. */
  readonly #remoteIds: (string | undefined)[] = [];
  /** Aborted when the session they were asked on is replaced, and on close. */
  #asking = new AbortController();
  readonly #opts: TunnelSetOptions;
  readonly #strict: boolean;
  readonly #supervisor: Supervisor;
  readonly #fopts: ForwardOptions;
  readonly #handle: SessionHandle;

  private constructor(opts: TunnelSetOptions) {
    this.#opts = opts;
    this.#strict = opts.exitOnForwardFailure ?? opts.config.exitOnForwardFailure;
    this.#fopts = { bus: opts.bus, gatewayPorts: opts.config.gatewayPorts };
    const handle = new SessionHandle(opts.config.alias, { waitMs: opts.clientWaitMs });
    this.#supervisor = new Supervisor({
      pool: opts.pool,
      config: opts.config,
      handle,
      bus: opts.bus,
      reconnect: opts.reconnect,
      backoff: opts.backoff,
      onConnected: (session, reconnected) => this.#startRemote(session, reconnected),
      onRetry: (delay, cause) =>
        opts.bus?.emit({ type: 'info', message: `${opts.config.alias}: ${cause.message}; reconnecting${delay > 0 ? ` in ${(delay / 1000).toFixed(1)}s` : ''}` }),
    });
    this.#handle = handle;
  }

  /** Settles when the tunnels end for good: with the fatal error, or undefined after close(). */
  get ended(): Promise<BurrowError | undefined> {
    return this.#supervisor.ended;
  }

  get session(): Session {
    const s = this.#supervisor.session;
    if (!s) throw new BurrowError('SESSION_CLOSED', `no connection to ${this.#opts.config.alias}`, { phase: 'session' });
    return s;
  }

  get reconnects(): number {
    return this.#supervisor.reconnects;
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
    const set = new TunnelSet(opts);
    try {
      for (const spec of opts.specs.filter((s) => s.kind !== 'remote')) {
        const f = await set.#startOne(spec);
        if (f) set.#local.push(f);
      }
      await set.#supervisor.start(opts.signal);
    } catch (e) {
      set.destroy();
      throw toBurrowError(e);
    }
    return set;
  }

  async #startOne(spec: ForwardSpec, id?: string): Promise<Forward | undefined> {
    const f = createForward(spec, this.#handle, { ...this.#fopts, ...(id ? { id } : {}) });
    try {
      await f.start({ signal: this.#opts.signal });
      return f;
    } catch (e) {
      const err = toBurrowError(e, 'BIND_FAILED', 'forward');
      if (this.#strict) throw err;
      this.failures.push(err);
      return undefined;
    }
  }

  /** Requests every remote forward on a (new) session; the old ones died with the old session. */
  async #startRemote(_session: Session, reconnected: boolean): Promise<void> {
    for (const f of this.#remote) f.destroy();
    this.#remote = [];
    this.#asking.abort();
    this.#asking = new AbortController();
    const specs = this.#opts.specs.filter((s) => s.kind === 'remote');
    for (const [i, spec] of specs.entries()) {
      // Granted before: the server may still hold it for the lost connection. Never granted: as at first.
      const id = reconnected ? this.#remoteIds[i] : undefined;
      const f = id !== undefined ? await this.#askAgain(spec, id, this.#asking.signal) : await this.#startOne(spec);
      if (f) this.#remote.push(f);
      if (f) this.#remoteIds[i] = f.id;
    }
  }

  /**
   * A remote forward again, after a reconnect. The server often still listens on the port
   * for the connection that was lost (until it notices it is gone: its keepalive, or TCP's
   * after hours), and refuses: ask again, backing off to every 30 s, until it says yes or
   * the session is replaced or closed; said once, not at every try. Resolves with the
   * forward at once if granted, else undefined (it joins the set when granted later).
   */
  async #askAgain(spec: ForwardSpec, id: string, signal: AbortSignal): Promise<Forward | undefined> {
    const attempt = async (): Promise<Forward> => {
      const f = createForward(spec, this.#handle, { ...this.#fopts, id, reportFailure: false });
      await f.start({ signal });
      return f;
    };
    try {
      return await attempt();
    } catch (e) {
      const err = toBurrowError(e, 'BIND_FAILED', 'forward');
      if (err.code !== 'FORWARD_REFUSED' || signal.aborted) {
        if (!signal.aborted) this.#report(spec, id, err);
        return undefined;
      }
      this.#opts.bus?.emit({
        type: 'warning',
        code: 'FORWARD_REFUSED',
        message: `${this.#opts.config.alias} refused -R ${spec.text} after the reconnect: it may still hold the port for the lost connection until it notices that one is gone; asking again, every 30 s at most`,
      });
    }
    void (async () => {
      for (let delay = 1000; !signal.aborted; delay = Math.min(2 * delay, 30_000)) {
        try {
          await sleep(delay, undefined, { signal });
          const f = await attempt();
          if (signal.aborted) return f.destroy();
          this.#remote.push(f);
          return;
        } catch (e) {
          const err = toBurrowError(e, 'BIND_FAILED', 'forward');
          if (signal.aborted || err.code === 'ABORTED') return;
          if (err.code !== 'FORWARD_REFUSED') return this.#report(spec, id, err);
        }
      }
    })();
    return undefined;
  }

  #report(spec: ForwardSpec, id: string, err: BurrowError): void {
    this.failures.push(err);
    this.#opts.bus?.emit({ type: 'forward-failed', id, kind: spec.kind, spec: spec.text, error: { code: err.code, message: err.message } });
  }

  /**
   * Resolves once no forwarded connection is open, going on listening meanwhile: after a
   * remote command exits, ssh stays until the connections it carries have closed (the
   * `ssh -f -L 5901:localhost:5901 host sleep 10; vncviewer localhost:5901` idiom).
   */
  async drained(): Promise<void> {
    while (this.totals().active > 0) await Promise.all(this.forwards.map((f) => f.idle()));
  }

  /** Stops listening, lets open connections finish (bounded by `graceMs`), then releases the session. */
  async close(graceMs = 5000): Promise<void> {
    this.#asking.abort();
    const forwards = this.forwards;
    const drained = Promise.all(forwards.map((f) => f.close()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const f of forwards) f.destroy();
    await this.#supervisor.close();
  }

  /** Cuts everything now. */
  destroy(): void {
    for (const f of this.forwards) f.destroy();
    this.#asking.abort();
    this.#supervisor.destroy();
  }
}
