/**
 * The connections of one forward: owns every local socket and channel, keeps the
 * stats, emits `client-open` / `client-close`, and can wait for them to drain or
 * cut them all.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { toBurrowError, type ErrorCode } from '../errors.js';
import type { EventBus, ErrorInfo } from '../events.js';
import { Admission } from './admission.js';
import { Link } from '../ssh/link.js';
import { Conn } from './conn.js';
import { joinConn } from './conn-join.js';
import { joinLink } from './link-join.js';
import { joinStreams, type Join, type JoinOptions } from './pipe.js';
import type { ForwardStats } from './types.js';

function info(err: unknown, code: ErrorCode): ErrorInfo {
  const e = toBurrowError(err, code, 'channel');
  return { code: e.code, message: e.message };
}

/** One accepted connection, from accept to close: a stream, or a Conn (conn.ts). */
export class Client {
  readonly n: number;
  readonly local: Duplex | Conn;
  readonly from: string;
  #to: string | undefined;
  #remote: Duplex | undefined;
  #join: Join | undefined;
  #ended = false;
  /** Set once its channel may open; from then on it counts as busy until quiet. */
  #admitted = false;
  #lastActive = 0;
  readonly #table: Clients;

  constructor(table: Clients, n: number, local: Duplex | Conn, from: string) {
    this.#table = table;
    this.n = n;
    this.local = local;
    this.from = from;
    // Gone before it was joined (SOCKS client hung up mid-handshake, client gave up
    // while the channel opened): free the slot; a channel that opens later is dropped.
    const gone = (): void => {
      if (!this.#join) this.#finish(undefined, 'DISCONNECTED');
    };
    if (local instanceof Conn) {
      local.onClose = gone;
      return;
    }
    local.on('error', () => {}); // a reset before the join must not crash the process
    local.once('close', gone);
  }

  /** True once the connection is over (or the forward was destroyed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Opening its channel, or moved data within `idleMs`. */
  busy(now: number, idleMs: number): boolean {
    if (this.#ended || !this.#admitted) return false;
    return !this.#join || now - this.#lastActive < idleMs;
  }

  /**
   * Runs `open` (which opens the channel) once the forward has room for another busy
   * channel: at once unless many are moving data (see `admission.ts`).
   */
  admit(open: () => void): void {
    this.#table.admission.admit(
      () => {
        this.#admitted = true;
        this.#lastActive = Date.now();
        open();
      },
      () => this.#ended,
    );
  }

  /** Announces the connection with its target (`client-open`). */
  open(to: string): void {
    if (this.#to !== undefined || this.#ended) return;
    this.#to = to;
    this.#table.bus?.emit({ type: 'client-open', id: this.#table.id, client: this.n, from: this.from, to });
  }

  /**
   * Moves bytes between the local stream and `remote` (a channel, or a link joined to
   * a local socket) until both directions end.
   */
  join(remote: Duplex | Link): void {
    if (this.#ended) {
      if (remote instanceof Link) remote.close();
      else {
        remote.on('error', () => {});
        remote.destroy();
      }
      return;
    }
    const stats = this.#table.stats;
    const opts: JoinOptions = {
      onIn: (n) => {
        stats.bytesIn += n;
        this.#lastActive = Date.now();
      },
      onOut: (n) => {
        stats.bytesOut += n;
        this.#lastActive = Date.now();
      },
    };
    const local = this.local;
    if (local instanceof Conn) {
      if (!(remote instanceof Link)) throw new TypeError('an accepted connection joins a link');
      this.#join = joinConn(local, remote, opts);
    } else if (remote instanceof Link) {
      this.#join = joinLink(local as Socket, remote, opts);
    } else {
      this.#remote = remote;
      this.#join = joinStreams(local, remote, opts);
    }
    void this.#join.done.then((r) => this.#finish(r.error, 'DISCONNECTED'));
  }

  /**
   * The target could not be reached. `reply` is sent before the local side is ended
   * (SOCKS failure codes); without it the local side is cut.
   */
  fail(err: unknown, reply?: Buffer): void {
    if (this.#ended) return;
    this.#table.stats.failed++;
    if (this.local instanceof Conn) {
      this.local.destroy();
    } else if (reply && !this.local.destroyed) {
      this.local.end(reply);
      // A client that never closes its half must not hold the slot forever.
      setTimeout(() => this.local.destroy(), 5000).unref();
    } else {
      this.local.destroy();
    }
    this.#finish(err, 'CHANNEL_OPEN_FAILED');
  }

  /** Cuts both sides now. */
  destroy(): void {
    if (this.#join) this.#join.destroy();
    else {
      this.local.destroy();
      this.#remote?.destroy();
    }
    this.#finish(undefined, 'DISCONNECTED');
  }

  #finish(err: unknown, code: ErrorCode): void {
    if (this.#ended) return;
    this.#ended = true;
    const t = this.#table;
    if (this.#to !== undefined) {
      t.bus?.emit({
        type: 'client-close',
        id: t.id,
        client: this.n,
        bytesIn: this.#join?.bytesIn ?? 0,
        bytesOut: this.#join?.bytesOut ?? 0,
        ...(err === undefined ? {} : { error: info(err, code) }),
      });
    }
    t.release(this);
  }
}

/** Busy channels one forward lets run at once before new ones wait (see `admission.ts`). */
export const MAX_BUSY_CHANNELS = 32;
/** A channel that moved nothing for this long no longer counts as busy (ms). */
export const BUSY_IDLE_MS = 250;

export class Clients {
  readonly stats: ForwardStats = { active: 0, total: 0, bytesIn: 0, bytesOut: 0, failed: 0 };
  readonly id: string;
  readonly bus: EventBus | undefined;
  readonly #live = new Set<Client>();
  readonly #ac = new AbortController();
  #idle: (() => void)[] = [];
  #next = 0;
  /** @internal used by Client.admit */
  readonly admission: Admission;

  constructor(id: string, bus: EventBus | undefined, opts: { maxBusyChannels?: number } = {}) {
    this.id = id;
    this.bus = bus;
    this.admission = new Admission({
      max: opts.maxBusyChannels ?? MAX_BUSY_CHANNELS,
      idleMs: BUSY_IDLE_MS,
      busy: () => {
        const now = Date.now();
        let n = 0;
        for (const c of this.#live) if (c.busy(now, BUSY_IDLE_MS)) n++;
        return n;
      },
    });
    // Every channel being opened listens on it: hundreds at once is normal, not a leak.
    setMaxListeners(0, this.#ac.signal);
  }

  /** Aborted by {@link destroyAll}: pass it to channel opens so they stop too. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** Takes ownership of an accepted local stream. */
  add(local: Duplex | Conn, from: string): Client {
    const c = new Client(this, ++this.#next, local, from);
    this.#live.add(c);
    this.stats.active++;
    this.stats.total++;
    if (this.#ac.signal.aborted) c.destroy();
    return c;
  }

  /** @internal called by a Client when it ends. */
  release(c: Client): void {
    if (!this.#live.delete(c)) return;
    this.stats.active--;
    if (this.admission.waiting > 0) this.admission.kick();
    if (this.#live.size === 0) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves when no connection is open. */
  idle(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** Cuts every connection and aborts pending channel opens. */
  destroyAll(): void {
    this.#ac.abort();
    this.admission.dispose();
    for (const c of [...this.#live]) c.destroy();
  }
}
