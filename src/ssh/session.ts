/**
 * One authenticated SSH connection to a destination, shared by every tunnel to it.
 * Opens its transport (TCP, ProxyCommand or a ProxyJump hop's channel), checks the
 * host key against known_hosts, authenticates once, and implements {@link ChannelOpener}.
 *
 * @example
 * const cfg = await resolveHost('mahuika');
 * const session = await Session.connect({ config: cfg, prompter });
 * const channel = await session.openTcp({ host: 'localhost', port: 6666 }, { host: '127.0.0.1', port: 0 });
 * await session.close();
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Client, ClientChannel, PseudoTtyOptions } from 'ssh2';
import { BurrowError, isBurrowError } from '../errors.js';
import type { EventBus, SessionState } from '../events.js';
import type { ResolvedHost } from '../config/types.js';
import type { Prompter } from '../prompt.js';
import type { ChannelOpener, Endpoint, IncomingChannel, RemoteListener } from './channels.js';
import { handshake, openTransport } from './connect.js';
import type { HopCarrier, Transport } from './transport.js';
import { Keepalive } from './liveness/keepalive.js';
import { Link, type IncomingOpen, type LinkTarget } from './link.js';
import { onAbort } from '../lifecycle.js';

/** burrow's keepalive when the config leaves ServerAliveInterval at 0 (OpenSSH: off). */
export const DEFAULT_ALIVE_INTERVAL = 15;

export interface SessionOptions {
  config: ResolvedHost;
  /** Who answers passwords, one-time codes and host-key questions; undefined = nobody (fail fast). */
  prompter?: Prompter;
  bus?: EventBus;
  signal?: AbortSignal;
  /** A password to answer with instead of asking (demo, tests). Never logged or stored. */
  password?: string;
  /** ssh-agent socket (default $SSH_AUTH_SOCK). */
  agent?: string;
  /**
   * For ProxyJump: an opener for the previous hop. The pool supplies it, so hops are
   * shared like any other session.
   */
  via?: ChannelOpener;
  /** How the hop's channel reaches the connection (`via`); default: the channel itself. */
  carryHop?: HopCarrier;
  /** ProxyCommand stderr: inherited like ssh, or ignored. */
  proxyStderr?: 'inherit' | 'ignore';
  log?: (message: string) => void;
}

type Listener = (c: IncomingChannel) => void;

/** A live SSH connection. Emits `'close'` (with a BurrowError when lost unexpectedly). */
export class Session extends EventEmitter implements ChannelOpener {
  readonly destination: string;
  readonly config: ResolvedHost;
  #client: Client;
  #transport: Transport;
  #state: SessionState = 'connected';
  #bus: EventBus | undefined;
  #tcpListeners = new Map<string, Listener>();
  #unixListeners = new Map<string, Listener>();
  #closing = false;
  #lostReason: string | undefined;
  #keepalive: Keepalive | undefined;
  /** Open channels, so a lost connection can cut them with an error. */
  readonly #channels = new Set<Duplex>();
  /** Open links (link.ts), for the same reason. */
  readonly #links = new Set<Link>();

  private constructor(config: ResolvedHost, client: Client, transport: Transport, bus: EventBus | undefined) {
    super();
    this.destination = config.alias;
    this.config = config;
    this.#client = client;
    this.#transport = transport;
    this.#bus = bus;
    // The server's connections on our -R listeners become Links (link.ts). ssh2's events
    // get only what the taker leaves: an open for a listener ssh2 asked for and we no
    // longer have (ssh2 has reserved a channel for it), refused.
    Link.onIncoming(client, (open) => this.#incoming(open));
    client.on('tcp connection', (_info, _accept, reject) => reject());
    client.on('unix connection', (_info, _accept, reject) => reject());
    client.on('error', (e: Error) => {
      this.#lostReason ??= e.message;
    });
    // ssh2 closes open channels with a plain EOF when its transport goes away, so a
    // transfer cut mid-way would look complete. Cut them with an error first: these
    // listeners are prepended to run before ssh2's own cleanup of the transport.
    const cutChannels = () => {
      if (!this.#closing) this.#cutChannels();
    };
    for (const ev of ['end', 'error', 'close']) transport.stream.prependListener(ev, cutChannels);
    client.on('close', () => {
      const lost = !this.#closing;
      this.#keepalive?.dispose();
      this.#setState('closed');
      this.#transport.dispose();
      const why = this.#lostReason ? `: ${this.#lostReason}` : '';
      this.emit('close', lost ? new BurrowError('DISCONNECTED', `connection to ${this.destination} lost${why}`, { phase: 'session' }) : undefined);
    });
    const interval = config.serverAliveInterval || DEFAULT_ALIVE_INTERVAL;
    this.#keepalive = new Keepalive(transport.stream, {
      interval,
      countMax: config.serverAliveCountMax,
      probe: () => probe(client),
      onDead: (reason) => {
        this.#lostReason = reason;
        this.#cutChannels();
        client.destroy();
        transport.dispose();
      },
    });
  }

  /**
   * A connection the server opens on one of our -R listeners, as a Link; false leaves
   * the open to ssh2. Taken only where ssh2 would take it (a listener it asked for:
   * `_forwarding`, `_forwardingUnix`), with its fix-up of a port 0.
   */
  #incoming(open: IncomingOpen): boolean {
    const d = open.data;
    const c = this.#client as unknown as { _forwarding?: Record<string, number>; _forwardingUnix?: Record<string, unknown> };
    let fn: Listener | undefined;
    let origin: Endpoint;
    if (open.type === 'forwarded-tcpip') {
      const asked = c._forwarding?.[`${String(d.destIP)}:${String(d.destPort)}`];
      if (asked === undefined) return false;
      const port = d.destPort === 0 ? asked : (d.destPort ?? 0);
      fn = this.#tcpListeners.get(`${d.destIP ?? ''}:${port}`) ?? [...this.#tcpListeners.entries()].find(([k]) => k.endsWith(`:${port}`))?.[1];
      origin = { host: d.srcIP ?? '', port: d.srcPort ?? 0 };
    } else if (open.type === 'forwarded-streamlocal@openssh.com') {
      if (d.socketPath === undefined || c._forwardingUnix?.[d.socketPath] === undefined) return false;
      fn = this.#unixListeners.get(d.socketPath);
      origin = { host: d.socketPath, port: 0 };
    } else {
      return false;
    }
    if (!fn) return false;
    const link = Link.incoming(this.#client, open);
    if (!link) return true;
    this.#links.add(link);
    link.onGone = () => this.#links.delete(link);
    link.onUpgrade = (ch) => this.#track(guard(ch));
    fn({
      origin,
      acceptLink: () => {
        link.accept();
        return link;
      },
      accept: () => {
        link.accept();
        return link.upgrade();
      },
      reject: () => link.reject(),
    });
    return true;
  }

  /** Errors every open channel: the connection is gone, whatever ssh2 says next. */
  #cutChannels(): void {
    if (this.#channels.size === 0 && this.#links.size === 0) return;
    const cut = new BurrowError('DISCONNECTED', `connection to ${this.destination} lost`, { phase: 'session' });
    // ssh2's Channel.destroy() is a polite end+close that drops the error: use the
    // stream's own destroy, which errors the channel (nothing can be sent anyway).
    for (const ch of this.#channels) Duplex.prototype.destroy.call(ch, cut);
    this.#channels.clear();
    for (const l of [...this.#links]) l.lost(cut);
    this.#links.clear();
  }

  #track<T extends Duplex>(ch: T): T {
    this.#channels.add(ch);
    ch.once('close', () => this.#channels.delete(ch));
    return ch;
  }

  /** Checks now that the server still answers (see Keepalive.probeNow). */
  probeNow(why: string): void {
    this.#keepalive?.probeNow(why);
  }

  get state(): SessionState {
    return this.#state;
  }

  #setState(state: SessionState, error?: BurrowError): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#bus?.emit({ type: 'session-state', destination: this.destination, state, ...(error ? { error: { code: error.code, message: error.message } } : {}) });
  }

  /** Connects, verifies the host key and authenticates. Rejects with a BurrowError. */
  static async connect(opts: SessionOptions): Promise<Session> {
    const { config, bus } = opts;
    const log = opts.log ?? (() => {});
    const emit = (state: SessionState, error?: BurrowError) =>
      bus?.emit({ type: 'session-state', destination: config.alias, state, ...(error ? { error: { code: error.code, message: error.message } } : {}) });
    emit('connecting');
    let transport: Transport | undefined;
    try {
      transport = await openTransport(opts);
      log(`connected to ${transport.describe}`);
      const client = await handshake(opts, transport, () => emit('authenticating'));
      const session = new Session(config, client, transport, bus);
      emit('connected');
      return session;
    } catch (e) {
      transport?.dispose();
      const err = isBurrowError(e) ? e : new BurrowError('CONNECT_FAILED', `${config.alias}: ${(e as Error).message}`, { phase: 'connect', cause: e });
      emit('closed', err);
      throw err;
    }
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new BurrowError('SESSION_CLOSED', `the connection to ${this.destination} is closed`, { phase: 'channel' });
  }

  openTcp(target: Endpoint, origin: Endpoint, opts: { signal?: AbortSignal } = {}): Promise<Duplex> {
    this.#assertOpen();
    return channelOpen(opts.signal, `${target.host}:${target.port}`, this.destination, (cb) =>
      this.#client.forwardOut(origin.host, origin.port, target.host, target.port, cb),
    ).then((ch) => this.#track(ch));
  }

  openUnix(path: string, opts: { signal?: AbortSignal } = {}): Promise<Duplex> {
    this.#assertOpen();
    return channelOpen(opts.signal, path, this.destination, (cb) => this.#client.openssh_forwardOutStreamLocal(path, cb)).then((ch) => this.#track(ch));
  }

  openLink(target: LinkTarget, opts: { signal?: AbortSignal } = {}): Promise<Link> {
    this.#assertOpen();
    const what = target.type === 'tcp' ? `${target.host}:${target.port}` : target.path;
    return opened<Link>(
      opts.signal,
      what,
      this.destination,
      (cb) => Link.open(this.#client, target, cb),
      (link) => {
        this.#links.add(link);
        link.onGone = () => this.#links.delete(link);
        link.onUpgrade = (ch) => this.#track(guard(ch));
        ackNow(link.protocol, link.outgoing);
        return link;
      },
      (link) => link.close(),
    );
  }

  listenTcp(bind: string, port: number, onConnection: Listener): Promise<RemoteListener> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#client.forwardIn(bind, port, (err, realPort) => {
        if (err) {
          return reject(new BurrowError('FORWARD_REFUSED', `${this.destination} refused to listen on ${bind || '*'}:${port}${port ? ' (the port is in use there, or forwarding is not allowed); use port 0 to let the server pick a free one' : ''}`, { phase: 'forward', cause: err, details: { bind, port } }));
        }
        const actual = realPort || port;
        const key = `${bind}:${port === 0 ? actual : port}`;
        this.#tcpListeners.set(key, onConnection);
        resolve({
          port: actual,
          close: () =>
            new Promise<void>((res) => {
              this.#tcpListeners.delete(key);
              if (this.#state === 'closed') return res();
              try {
                this.#client.unforwardIn(bind, port === 0 ? actual : port, () => res());
              } catch {
                res();
              }
            }),
        });
      });
    });
  }

  listenUnix(path: string, onConnection: Listener): Promise<RemoteListener> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#client.openssh_forwardInStreamLocal(path, (err) => {
        if (err) return reject(new BurrowError('FORWARD_REFUSED', `${this.destination} refused to listen on ${path}`, { phase: 'forward', cause: err, details: { path } }));
        this.#unixListeners.set(path, onConnection);
        resolve({
          port: 0,
          close: () =>
            new Promise<void>((res) => {
              this.#unixListeners.delete(path);
              if (this.#state === 'closed') return res();
              try {
                this.#client.openssh_unforwardInStreamLocal(path, () => res());
              } catch {
                res();
              }
            }),
        });
      });
    });
  }

  /** Runs a command; with `pty`, allocates a terminal like `ssh -t`. */
  exec(command: string, opts: { pty?: PseudoTtyOptions | false; env?: Record<string, string> } = {}): Promise<ClientChannel> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#client.exec(command, { pty: opts.pty || undefined, env: opts.env }, (err, ch) => (err ? reject(new BurrowError('CHANNEL_OPEN_FAILED', `cannot run command on ${this.destination}: ${err.message}`, { phase: 'channel', cause: err })) : resolve(this.#track(guard(ch)))));
    });
  }

  /** Opens an interactive shell with a PTY. */
  shell(pty: PseudoTtyOptions | false, opts: { env?: Record<string, string> } = {}): Promise<ClientChannel> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      const cb = (err: Error | undefined, ch: ClientChannel) => (err ? reject(new BurrowError('CHANNEL_OPEN_FAILED', `cannot open a shell on ${this.destination}: ${err.message}`, { phase: 'channel', cause: err })) : resolve(this.#track(guard(ch))));
      if (pty === false) this.#client.shell(false, { env: opts.env }, cb);
      else this.#client.shell(pty, { env: opts.env }, cb);
    });
  }

  /** Ends the connection politely (open channels are closed by the server). */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#closing = true;
    return new Promise((resolve) => {
      this.once('close', () => resolve());
      this.#client.end();
      // A transport that never closes (a wedged ProxyCommand) must not hold us forever.
      setTimeout(() => this.destroy(), 3000).unref();
    });
  }

  /** Cuts the connection now. */
  destroy(): void {
    if (this.#state === 'closed') return;
    this.#closing = true;
    this.#client.destroy();
    this.#transport.dispose();
  }
}

/**
 * Sends keepalive@openssh.com, which the server must answer. ssh2 has no public call
 * for it; this does what its own keepalive timer does (a reply callback, then ping).
 */
function probe(client: Client): void {
  const c = client as unknown as { _callbacks?: Array<() => void>; _protocol?: { ping(): void } };
  if (!c._callbacks || !c._protocol) return;
  c._callbacks.push(() => {});
  try {
    c._protocol.ping();
  } catch {
    // the transport is already gone; 'close' follows
  }
}

function guard<T extends { on(ev: 'error', fn: (e: Error) => void): unknown }>(ch: T): T {
  ch.on('error', () => {});
  return ch;
}

/**
 * Answers a channel-open confirmation with a packet at once (a WINDOW_ADJUST of 0
 * bytes, a no-op for the server), so that the TCP ACK for the confirmation leaves now
 * instead of after the kernel's delayed-ACK timer (~40 ms). sshd does not set
 * TCP_NODELAY on a `-N` session: when the target speaks first, its first bytes queue
 * behind the unacknowledged confirmation (Nagle) until our ACK arrives.
 */
function ackNow(proto: AckProto | undefined, side: { id: number; state: string } | undefined): void {
  if (!proto || !side) return;
  const sent = proto._cipher?.outSeqno;
  // Wait one turn of the event loop (two check phases: the local socket is read in
  // the poll phase between them): when the client spoke first, its data already
  // carried the ACK and nothing extra is sent.
  setImmediate(() =>
    setImmediate(() => {
      if (side.state !== 'open' || proto._cipher?.outSeqno !== sent) return;
      try {
        proto.channelWindowAdjust(side.id, 0);
      } catch {
        // the transport is already gone; the channel closes with it
      }
    }),
  );
}

type AckProto = { channelWindowAdjust(id: number, n: number): void; _cipher?: { outSeqno?: number } };

function channelOpen(
  signal: AbortSignal | undefined,
  what: string,
  destination: string,
  open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void,
): Promise<Duplex> {
  return opened<ClientChannel>(signal, what, destination, open, (ch) => {
    const c = ch as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: AckProto } };
    ackNow(c._client?._protocol, c.outgoing);
    return guard(ch);
  }, (ch) => ch.destroy());
}

/**
 * Opens a channel (or a link) with `open`; a refusal becomes CHANNEL_OPEN_FAILED in
 * the server's words, an abort ABORTED (a channel that opens after it is dropped).
 */
function opened<T>(
  signal: AbortSignal | undefined,
  what: string,
  destination: string,
  open: (cb: (err: Error | undefined, ch?: T) => void) => void,
  ready: (ch: T) => T,
  drop: (ch: T) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new BurrowError('ABORTED', `opening ${what} aborted`, { phase: 'channel', cause: signal.reason }));
    let done = false;
    const abort = () => {
      done = true;
      reject(new BurrowError('ABORTED', `opening ${what} aborted`, { phase: 'channel', cause: signal?.reason }));
    };
    const forget = signal ? onAbort(signal, abort) : undefined;
    try {
      open((err, ch) => {
        forget?.();
        if (done) {
          if (ch !== undefined) drop(ch);
          return;
        }
        if (err || ch === undefined) {
          const e = err ?? new Error('no channel');
          const reason = (e as Error & { reason?: number }).reason;
          // The server's own words when it gave some ("Connection refused", "Name or service not known").
          const said = e.message.replace(/^\(SSH\) Channel open failure: ?/, '').trim();
          const why = reason === 2 ? said || 'connection refused or unreachable from there' : reason === 1 ? 'administratively prohibited' : e.message;
          return reject(new BurrowError('CHANNEL_OPEN_FAILED', `${destination} could not open ${what}: ${why}`, { phase: 'channel', cause: e, details: { reason } }));
        }
        resolve(ready(ch));
      });
    } catch (e) {
      forget?.();
      reject(new BurrowError('SESSION_CLOSED', `the connection to ${destination} is closed`, { phase: 'channel', cause: e }));
    }
  });
}
