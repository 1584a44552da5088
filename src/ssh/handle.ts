/**
 * A stable {@link ChannelOpener} for one destination whose Session may not exist yet
 * (still connecting, or reconnecting later). Local listeners bind to the handle before
 * the connection is up, so a taken port is reported before anyone types a second
 * factor; clients that arrive meanwhile wait, bounded, then get a clean refusal. A
 * client that starts waiting tells whoever reconnects (`onDemand`): someone needs the
 * connection now, not after the backoff.
 */
import type { Duplex } from 'node:stream';
import { BurrowError, isBurrowError } from '../errors.js';
import type { ChannelOpener, Endpoint, IncomingChannel, RemoteListener } from './channels.js';
import type { Link, LinkTarget } from './link.js';
import type { Session } from './session.js';

export interface SessionHandleOptions {
  /** How long a new client may wait for the session (ms); default 10 s. */
  waitMs?: number;
}

/** Resolves true once `session` is closed, false if it is still up after `ms`. */
function closedSoon(session: Session, ms: number): Promise<boolean> {
  if (session.state === 'closed') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      session.off('close', onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    session.once('close', onClose);
  });
}

export class SessionHandle implements ChannelOpener {
  readonly destination: string;
  readonly #waitMs: number;
  #session: Session | undefined;
  #failure: BurrowError | undefined;
  #waiters = new Set<{ resolve: (s: Session) => void; reject: (e: BurrowError) => void }>();
  /** Called when a client starts waiting for a session (see Supervisor). */
  onDemand: (() => void) | undefined;

  constructor(destination: string, opts: SessionHandleOptions = {}) {
    this.destination = destination;
    this.#waitMs = opts.waitMs ?? 10_000;
  }

  /** Clients waiting for a session now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  get session(): Session | undefined {
    return this.#session;
  }

  /** A session is up (or gone, with undefined): waiters proceed. */
  set(session: Session | undefined): void {
    this.#session = session;
    if (!session) return;
    this.#failure = undefined;
    for (const w of this.#waiters) w.resolve(session);
    this.#waiters.clear();
  }

  /** No session will come: waiting and future clients fail with `err`. */
  fail(err: BurrowError): void {
    this.#session = undefined;
    this.#failure = err;
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
  }

  /** The session, if it is up now. */
  #live(): Session | undefined {
    const s = this.#session;
    return s !== undefined && s.state !== 'closed' ? s : undefined;
  }

  /** Resolves with the live session, waiting up to the bound. */
  wait(signal?: AbortSignal): Promise<Session> {
    const s = this.#live();
    if (s) return Promise.resolve(s);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timeout = AbortSignal.timeout(this.#waitMs);
      const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const w = {
        resolve: (s: Session) => {
          stop.removeEventListener('abort', onStop);
          resolve(s);
        },
        reject: (e: BurrowError) => {
          stop.removeEventListener('abort', onStop);
          reject(e);
        },
      };
      const onStop = () => {
        this.#waiters.delete(w);
        reject(
          timeout.aborted
            ? new BurrowError('SESSION_CLOSED', `no connection to ${this.destination} within ${this.#waitMs / 1000}s`, { phase: 'channel' })
            : new BurrowError('ABORTED', 'aborted while waiting for the connection', { phase: 'channel', cause: signal?.reason }),
        );
      };
      stop.addEventListener('abort', onStop, { once: true });
      this.#waiters.add(w);
      this.onDemand?.();
    });
  }

  /**
   * Opens on the live session; when that session dies during the open (the client's
   * bytes are still unread, so nothing is lost), once more on the next one.
   */
  async #open<T>(open: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // A live session opens at once: awaiting wait() would cost a new connection's
    // request a turn of the microtask queue before it leaves.
    const session = this.#live() ?? (await this.wait(signal));
    try {
      return await open(session);
    } catch (e) {
      // The client went away, or the server said no (a refusal carries its reason code):
      // that is the answer.
      if (signal?.aborted || isBurrowError(e, 'ABORTED')) throw e;
      if (isBurrowError(e) && e.details.reason !== undefined) throw e;
      // Otherwise the connection failed under us; it may not know yet that it is dead.
      if (!(await closedSoon(session, this.#waitMs))) throw e;
      return open(await this.wait(signal));
    }
  }

  openTcp(target: Endpoint, origin: Endpoint, opts: { signal?: AbortSignal } = {}): Promise<Duplex> {
    return this.#open((s) => s.openTcp(target, origin, opts), opts.signal);
  }

  openUnix(path: string, opts: { signal?: AbortSignal } = {}): Promise<Duplex> {
    return this.#open((s) => s.openUnix(path, opts), opts.signal);
  }

  openLink(target: LinkTarget, opts: { signal?: AbortSignal } = {}): Promise<Link> {
    return this.#open((s) => s.openLink(target, opts), opts.signal);
  }

  async listenTcp(bind: string, port: number, onConnection: (c: IncomingChannel) => void): Promise<RemoteListener> {
    return (await this.wait()).listenTcp(bind, port, onConnection);
  }

  async listenUnix(path: string, onConnection: (c: IncomingChannel) => void): Promise<RemoteListener> {
    return (await this.wait()).listenUnix(path, onConnection);
  }
}
