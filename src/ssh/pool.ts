/**
 * One Session per destination, shared by every tunnel to it and reference-counted:
 * the first `acquire` connects (and asks for the second factor, once), the last
 * `release` closes. ProxyJump hops are acquired from the same pool, so `-J lander`
 * tunnels to two hosts share one lander connection.
 *
 * @example
 * const pool = new SessionPool({ resolve: (d) => resolveHost(d), prompter });
 * const lease = await pool.acquire(await resolveHost('mahuika'));
 * await lease.session.openTcp(...);
 * await lease.release();
 */
import type { ResolvedHost } from '../config/types.js';
import type { EventBus } from '../events.js';
import type { Prompter } from '../prompt.js';
import { Session, type SessionOptions } from './session.js';
import { parseProxyJump, type HopCarrier, type JumpHop } from './transport.js';
import { jumpFromProxyCommand } from './proxy-command.js';

export interface PoolOptions {
  /** Resolves a hop name (`lander`) the way the destination was resolved (same -F file). */
  resolve: (destination: string, overrides: { user?: string; port?: number }) => Promise<ResolvedHost>;
  prompter?: Prompter;
  bus?: EventBus;
  password?: string;
  proxyStderr?: 'inherit' | 'ignore';
  log?: (message: string) => void;
  /** How a ProxyJump hop's channel reaches the connection through it (forward's `carryHop`). */
  carryHop?: HopCarrier;
}

export interface Lease {
  readonly session: Session;
  /** Gives the session back; the last release closes it. */
  release(): Promise<void>;
}

interface Entry {
  refs: number;
  ready: Promise<{ session: Session; via?: Lease }>;
}

function keyOf(cfg: ResolvedHost): string {
  return `${cfg.user}@${cfg.hostname}:${cfg.port}|${cfg.proxyJump ?? ''}|${cfg.proxyCommand ?? ''}`;
}

export class SessionPool {
  readonly #opts: PoolOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: PoolOptions) {
    this.#opts = opts;
  }

  /** Number of live sessions (for status and tests). */
  get size(): number {
    return this.#entries.size;
  }

  async acquire(config: ResolvedHost, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    const key = keyOf(config);
    let entry = this.#entries.get(key);
    if (!entry) {
      const ready = this.#connect(config, opts.signal);
      const created: Entry = { refs: 0, ready };
      entry = created;
      this.#entries.set(key, created);
      ready.then(
        ({ session }) => session.once('close', () => this.#entries.get(key) === created && this.#entries.delete(key)),
        () => this.#entries.get(key) === created && this.#entries.delete(key),
      );
    }
    entry.refs++;
    const current = entry;
    let connected: { session: Session; via?: Lease };
    try {
      connected = await current.ready;
    } catch (e) {
      current.refs--;
      throw e;
    }
    let released = false;
    return {
      session: connected.session,
      release: async () => {
        if (released) return;
        released = true;
        if (--current.refs > 0) return;
        if (this.#entries.get(key) === current) this.#entries.delete(key);
        await connected.session.close();
        await connected.via?.release();
      },
    };
  }

  async #connect(config: ResolvedHost, signal?: AbortSignal): Promise<{ session: Session; via?: Lease }> {
    let via: Lease | undefined;
    const jump = config.proxyJump ?? jumpFromProxyCommand(config);
    if (jump && !config.proxyJump) this.#opts.log?.(`ProxyCommand '${config.proxyCommand}' runs as ProxyJump ${jump}: one login, shared and reconnected by burrow`);
    if (jump) {
      const hops = parseProxyJump(jump);
      const last = hops[hops.length - 1] as JumpHop;
      const hopCfg = await this.#opts.resolve(last.host, { user: last.user, port: last.port });
      const earlier = hops.slice(0, -1).map((h) => h.text).join(',');
      if (earlier) {
        hopCfg.proxyJump = earlier;
        hopCfg.proxyCommand = undefined;
      }
      via = await this.acquire(hopCfg, { signal });
    }
    const sessionOpts: SessionOptions = {
      config,
      prompter: this.#opts.prompter,
      bus: this.#opts.bus,
      password: this.#opts.password,
      proxyStderr: this.#opts.proxyStderr,
      log: this.#opts.log,
      signal,
      via: via?.session,
      carryHop: this.#opts.carryHop,
    };
    try {
      const session = await Session.connect(sessionOpts);
      // When a hop goes away, so does everything that ran through it.
      via?.session.once('close', (lost?: Error) => { if (!lost) session.destroy(); }); // a lost hop closes our channel: we are lost too, not closed on purpose
      return { session, via };
    } catch (e) {
      await via?.release();
      throw e;
    }
  }

  /** Closes every session now (used on exit). */
  destroyAll(): void {
    for (const entry of this.#entries.values()) {
      entry.ready.then(({ session }) => session.destroy(), () => {});
    }
    this.#entries.clear();
  }
}
