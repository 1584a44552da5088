/**
 * A forwarded connection's channel (`direct-tcpip`, `direct-streamlocal` that we open,
 * `forwarded-tcpip`, `forwarded-streamlocal` that the server opens for `-R`) without a
 * stream, until it carries bulk data.
 *
 * Most forwarded connections carry a request and a reply and close. Through ssh2 each
 * one builds a `Channel` (a Duplex, plus a Readable for stderr) and runs their state
 * machines and events for a few bytes: on loopback that doubled what a new connection
 * costs burrow (bench/HISTORY.md, session 28). A Link speaks the channel's messages
 * itself: CHANNEL_DATA to its user's socket, the socket's bytes out as CHANNEL_DATA,
 * EOF and CLOSE. Once the connection moves more than a little, or anything has to
 * wait (window, transport, a slow reader), `upgrade()` turns it into an ssh2 Channel
 * that carries on from the same state: the window tuner, sinks, the native receive
 * loop and transport backpressure are the Channel's.
 *
 * ssh2 has no hook for a channel of our own: `install` wraps its message handlers
 * (a channel-table entry that is a Link gets its messages; any other goes to ssh2 as
 * before; a server's open that `onIncoming`'s taker takes never reaches ssh2) and its
 * channel table's cleanup (a Link hears that the connection is gone).
 */
import { createRequire } from 'node:module';
import type { Client, ClientChannel } from 'ssh2';
import type { Endpoint } from './channels.js';
import { TRANSPORT_HIGH_WATER, takeTransportTurn, whenTransportRoom, type Turn } from './transport-turns.js';

/** One direction of a channel, as ssh2 keeps it (a Channel takes these objects over). */
interface Side {
  id: number;
  window: number;
  packetSize: number;
  state: 'open' | 'eof' | 'closing' | 'closed';
}

interface Proto {
  directTcpip(id: number, window: number, packet: number, cfg: { srcIP: string; srcPort: number; dstIP: string; dstPort: number }): void;
  openssh_directStreamLocal(id: number, window: number, packet: number, cfg: { socketPath: string }): void;
  channelData(id: number, data: Buffer): void;
  channelEOF(id: number): void;
  channelClose(id: number): void;
  channelWindowAdjust(id: number, amount: number): void;
  channelFailure(id: number): void;
  channelOpenConfirm(remote: number, local: number, window: number, packet: number): void;
  channelOpenFail(remote: number, reason: number, description: string): void;
  _handlers: Record<string, (...args: never[]) => void>;
}

interface ChanMgr {
  _channels: Record<number, unknown>;
  add(v: unknown): number;
  update(id: number, v: unknown): void;
  remove(id: number): void;
  cleanup(err: Error): void;
}

interface Internals {
  _protocol: Proto;
  _chanMgr: ChanMgr;
  _sock?: { writableLength: number };
  _burrowLinks?: true;
  _burrowIncoming?: OpenTaker;
}

/** A server's CHANNEL_OPEN, as ssh2's parser gives it. */
export interface IncomingOpen {
  type: string;
  sender: number;
  window: number;
  packetSize: number;
  data: { destIP?: string; destPort?: number; srcIP?: string; srcPort?: number; socketPath?: string };
}

/** Takes a server's CHANNEL_OPEN (true: it is answered, now or later), or leaves it to ssh2 (false). */
export type OpenTaker = (open: IncomingOpen) => boolean;

/** CHANNEL_OPEN_FAILURE reasons (RFC 4254 §5.1), as ssh2 sends them for its own refusals. */
const CONNECT_FAILED = 2;
const RESOURCE_SHORTAGE = 4;

const ssh2Channel = createRequire(import.meta.url)('ssh2/lib/Channel.js') as {
  Channel: new (client: Client, info: { type: string; incoming: Side; outgoing: Side }) => ClientChannel;
  PACKET_SIZE: number;
  initialWindow(conn: Client): number;
  rttSample(conn: Client, ms: number): number;
  windowClock(): number;
};

/**
 * Links confirmed, those that became Channels, and data that came before a link was
 * joined, all connections together (tests, diagnostics).
 */
export const linkCounters = { opened: 0, upgraded: 0, early: 0 };

export type LinkTarget = { type: 'tcp'; host: string; port: number; origin: Endpoint } | { type: 'unix'; path: string };

/** Who a Link tells what the server does. */
export interface LinkUser {
  /**
   * CHANNEL_DATA, counted against the window as delivered. `data` is valid only during
   * the call (a view of the read). An upgrade it calls for must wait until the call
   * has returned: the handler runs inside the parse of a read.
   */
  data(data: Buffer): void;
  /** The server's EOF. */
  eof(): void;
  /** The server closed the channel. */
  close(): void;
  /** The channel cannot go on (the connection is gone, the server broke the protocol). */
  error(err: Error): void;
}

type Opened = (err: (Error & { reason?: number | string }) | undefined, link?: Link) => void;

export class Link {
  readonly #client: Client;
  readonly #conn: Internals;
  readonly #type: string;
  readonly id: number;
  /** What we granted the server: ssh2's window tuner reads it (`creditAbove`). */
  readonly incoming: Side;
  #outgoing: Side | undefined;
  readonly #openedAt: number;
  /** The window we granted at open. */
  readonly #granted: number;
  #opened: Opened | undefined;
  /** The server's open of an incoming link, until it is accepted or refused. */
  #pending: IncomingOpen | undefined;
  #user: LinkUser | undefined;
  #upgraded = false;
  /** Data that came before `attach` (copies), and whether the server's EOF did. */
  #early: Buffer[] | undefined;
  #eofSeen = false;
  /** A turn on the transport given to the local socket, which has not read yet (transport-turns.ts). */
  #turn: Turn | undefined;
  /** Why it failed before `attach`. */
  #failed: Error | undefined;
  /** Called with the Channel a link became (the session tracks it from then on). */
  onUpgrade: ((ch: ClientChannel) => void) | undefined;
  /** Called once the link is done with (closed, lost or upgraded). */
  onGone: (() => void) | undefined;

  private constructor(client: Client, type: string, window: number, opened: Opened | undefined) {
    this.#client = client;
    this.#conn = client as unknown as Internals;
    this.#type = type;
    this.incoming = { id: 0, window, packetSize: ssh2Channel.PACKET_SIZE, state: 'open' };
    this.#granted = window;
    this.#openedAt = ssh2Channel.windowClock();
    this.#opened = opened;
    this.id = this.#conn._chanMgr.add(this);
    this.incoming.id = this.id;
  }

  /**
   * Asks the server for a channel to `target`; `cb` gets the Link once confirmed, or
   * ssh2's error for a refusal (with the server's `reason` code and words). Throws when
   * the connection is already closed.
   */
  static open(client: Client, target: LinkTarget, cb: Opened): void {
    const conn = client as unknown as Internals;
    Link.#install(conn);
    const type = target.type === 'tcp' ? 'direct-tcpip' : 'direct-streamlocal@openssh.com';
    const window = ssh2Channel.initialWindow(client);
    const link = new Link(client, type, window, cb);
    if (link.id === -1) {
      cb(new Error('No free channels available'));
      return;
    }
    const proto = conn._protocol;
    try {
      if (target.type === 'tcp') {
        proto.directTcpip(link.id, window, ssh2Channel.PACKET_SIZE, { srcIP: target.origin.host, srcPort: target.origin.port, dstIP: target.host, dstPort: target.port });
      } else {
        proto.openssh_directStreamLocal(link.id, window, ssh2Channel.PACKET_SIZE, { socketPath: target.path });
      }
    } catch (e) {
      conn._chanMgr.remove(link.id);
      throw e;
    }
  }

  /**
   * Hands the server's opens to `take` before ssh2 sees them; what it does not take
   * goes on to ssh2 as before. One taker per connection.
   */
  static onIncoming(client: Client, take: OpenTaker): void {
    const conn = client as unknown as Internals;
    Link.#install(conn);
    conn._burrowIncoming = take;
  }

  /**
   * A Link for a channel the server opens (`-R`), its channel number taken now, as
   * ssh2's own accept path takes one: `accept()` confirms it, `reject()` refuses it.
   * Undefined when the table is full (the open is refused, as ssh2 does).
   */
  static incoming(client: Client, open: IncomingOpen): Link | undefined {
    const conn = client as unknown as Internals;
    const link = new Link(client, open.type, ssh2Channel.initialWindow(client), undefined);
    if (link.id === -1) {
      conn._protocol.channelOpenFail(open.sender, RESOURCE_SHORTAGE, '');
      return undefined;
    }
    link.#pending = open;
    return link;
  }

  /** Confirms a channel the server opened: it is open from here on, unless the connection went first. */
  accept(): void {
    const open = this.#pending;
    this.#pending = undefined;
    if (!open || this.incoming.state === 'closed') return;
    this.#outgoing = { id: open.sender, window: open.window, packetSize: open.packetSize, state: 'open' };
    linkCounters.opened++;
    this.#conn._protocol.channelOpenConfirm(open.sender, this.id, this.incoming.window, ssh2Channel.PACKET_SIZE);
  }

  /** Refuses a channel the server opened (the target cannot be reached): its number is free again. */
  reject(): void {
    const open = this.#pending;
    this.#pending = undefined;
    if (!open || this.incoming.state === 'closed') return;
    this.#conn._chanMgr.remove(this.id);
    this.incoming.state = 'closed';
    try {
      this.#conn._protocol.channelOpenFail(open.sender, CONNECT_FAILED, '');
    } catch {
      // the transport is already gone
    }
    this.#gone();
  }

  /** The server's side: its channel number, the window it granted us, the open state. */
  get outgoing(): Side | undefined {
    return this.#outgoing;
  }

  get protocol(): Proto {
    return this.#conn._protocol;
  }

  /**
   * Starts delivering the server's messages to `user`, first what came before (a
   * server that speaks first can send data, even its EOF and CLOSE, in the read that
   * carried the confirmation).
   */
  attach(user: LinkUser): void {
    if (this.#failed) {
      user.error(this.#failed);
      return;
    }
    this.#user = user;
    const early = this.#early;
    this.#early = undefined;
    if (early) for (const chunk of early) user.data(chunk);
    if (this.#eofSeen) user.eof();
    if (this.incoming.state === 'closed') {
      this.#user = undefined;
      user.close();
    }
  }

  /**
   * Runs `go` (the local socket starts reading) when it is its turn on the connection's
   * transport: at once unless it is congested or others wait (transport-turns.ts).
   */
  whenRoom(go: () => void): void {
    whenTransportRoom(this.#conn, (turn) => {
      this.#turn = turn;
      go();
    });
  }

  /** A turn on the transport now, if one is free (true: read now); else ask `whenRoom`. */
  takeTurn(): boolean {
    const turn = takeTransportTurn(this.#conn);
    if (!turn) return false;
    this.#turn = turn;
    return true;
  }

  /**
   * The local socket given a turn has read, ended, or no longer will: the turn holds no
   * room on the transport (until then it counts as a read to come).
   */
  turnDone(): void {
    const turn = this.#turn;
    if (turn === undefined) return;
    this.#turn = undefined;
    turn.done();
  }

  /**
   * Sends `data` now if the server's window, its packet size and the transport take
   * it at once (beyond `TRANSPORT_HIGH_WATER` unsent, the Channel waits for the
   * transport); false otherwise (nothing sent: upgrade, and let the Channel wait).
   */
  send(data: Buffer): boolean {
    const out = this.#outgoing;
    if (!out || this.#upgraded) return false;
    if (out.state !== 'open') return true; // after our EOF or CLOSE: nowhere to go
    const sock = this.#conn._sock;
    if (data.length > out.window || data.length > out.packetSize || (sock !== undefined && sock.writableLength > TRANSPORT_HIGH_WATER)) return false;
    out.window -= data.length;
    this.#conn._protocol.channelData(out.id, data);
    return true;
  }

  /** Our EOF (the local side has no more to send). */
  eof(): void {
    const out = this.#outgoing;
    if (!out || this.#upgraded || out.state !== 'open') return;
    out.state = 'eof';
    this.#conn._protocol.channelEOF(out.id);
  }

  /** Our CLOSE. The channel number stays ours until the server's CLOSE comes. */
  close(): void {
    const out = this.#outgoing;
    if (!out || this.#upgraded) return;
    if (out.state === 'open' || out.state === 'eof') {
      out.state = 'closing';
      try {
        this.#conn._protocol.channelClose(out.id);
      } catch {
        // the transport is already gone; the table's cleanup follows
      }
    }
  }

  /**
   * Turns the link into an ssh2 Channel that goes on from here: the server is
   * re-credited for what the link delivered (the Channel starts with the window the
   * link opened with, as a new channel would), an EOF either way stays said, and every
   * later message goes to the Channel.
   */
  upgrade(): ClientChannel {
    const out = this.#outgoing;
    if (!out || this.#upgraded) throw new Error('link is not open');
    this.#upgraded = true;
    linkCounters.upgraded++;
    const inc = this.incoming;
    const taken = this.#granted - inc.window;
    if (taken > 0 && (out.state === 'open' || out.state === 'eof')) {
      inc.window += taken;
      this.#conn._protocol.channelWindowAdjust(out.id, taken);
    }
    const ch = new ssh2Channel.Channel(this.#client, { type: this.#type, incoming: inc, outgoing: out });
    this.#conn._chanMgr.update(this.id, ch);
    if (inc.state !== 'open') ch.push(null);
    this.#user = undefined;
    this.onUpgrade?.(ch);
    this.#gone();
    return ch;
  }

  /** The connection is gone: the user hears it, nothing is sent. */
  lost(err: Error): void {
    if (this.#upgraded) return;
    const table = this.#conn._chanMgr;
    if (table._channels[this.id] === this) table.remove(this.id);
    this.incoming.state = 'closed';
    if (this.#outgoing) this.#outgoing.state = 'closed';
    const opened = this.#opened;
    this.#opened = undefined;
    // Still opening: no refusal (no reason code), so a handle may open it again on the next connection.
    if (opened) opened(err);
    this.#fail(err);
    this.#user = undefined;
    this.#gone();
  }

  #gone(): void {
    const gone = this.onGone;
    this.onGone = undefined;
    gone?.();
  }

  #onConfirm(info: { sender: number; window: number; packetSize: number }): void {
    const opened = this.#opened;
    if (!opened) return;
    this.#opened = undefined;
    ssh2Channel.rttSample(this.#client, ssh2Channel.windowClock() - this.#openedAt);
    this.#outgoing = { id: info.sender, window: info.window, packetSize: info.packetSize, state: 'open' };
    linkCounters.opened++;
    opened(undefined, this);
  }

  #onOpenFailure(reason: number | string, description: string): void {
    this.#conn._chanMgr.remove(this.id);
    const opened = this.#opened;
    this.#opened = undefined;
    opened?.(Object.assign(new Error(`(SSH) Channel open failure: ${description}`), { reason }));
    this.#gone();
  }

  /** CHANNEL_DATA (and EXTENDED_DATA, which a forwarded connection has no use for). */
  #onData(data: Buffer, extended: boolean): void {
    const inc = this.incoming;
    if (inc.state !== 'open' || this.#outgoing === undefined) return;
    if (data.length > inc.window) {
      // As the patched Channel does (`windowExceeded`): cut rather than lose data.
      this.close();
      const err = Object.assign(new Error(`the server sent ${data.length} bytes on channel ${this.id} with ${Math.max(inc.window, 0)} bytes of window left; the channel was closed rather than lose data`), { code: 'ERR_SSH_CHANNEL_WINDOW' });
      this.#fail(err);
      return;
    }
    inc.window -= data.length;
    if (extended) return;
    const user = this.#user;
    if (user !== undefined) {
      user.data(data);
      return;
    }
    // Before `attach`: kept (a copy: the read's memory is reused) until it is handed over.
    (this.#early ??= []).push(Buffer.from(data));
    linkCounters.early++;
  }

  #fail(err: Error): void {
    const user = this.#user;
    if (user) user.error(err);
    else this.#failed = err;
  }

  #onEof(): void {
    if (this.incoming.state !== 'open') return;
    this.incoming.state = 'eof';
    this.#eofSeen = true;
    this.#user?.eof();
  }

  #onClose(): void {
    if (this.#opened) {
      this.#onOpenFailure('', 'server closed channel unexpectedly');
      return;
    }
    this.#conn._chanMgr.remove(this.id);
    this.incoming.state = 'closed';
    const out = this.#outgoing;
    if (out && (out.state === 'open' || out.state === 'eof')) {
      out.state = 'closed';
      this.#conn._protocol.channelClose(out.id);
    } else if (out) {
      out.state = 'closed';
    }
    this.#user?.close();
    this.#user = undefined;
    this.#gone();
  }

  /** Routes the channel messages of `conn` whose table entry is a Link; once per connection. */
  static #install(conn: Internals): void {
    if (conn._burrowLinks) return;
    conn._burrowLinks = true;
    const h = conn._protocol._handlers as unknown as Record<string, (...args: unknown[]) => void>;
    const table = conn._chanMgr;
    const open = h.CHANNEL_OPEN as (p: unknown, info: unknown) => void;
    h.CHANNEL_OPEN = (p, info) => {
      if (!conn._burrowIncoming?.(info as IncomingOpen)) open(p, info);
    };
    const linkAt = (id: unknown): Link | undefined => {
      const e = typeof id === 'number' ? table._channels[id] : undefined;
      return e instanceof Link ? e : undefined;
    };
    const confirm = h.CHANNEL_OPEN_CONFIRMATION as (p: unknown, info: { recipient: number; sender: number; window: number; packetSize: number }) => void;
    h.CHANNEL_OPEN_CONFIRMATION = (p, info) => {
      const i = info as { recipient: number; sender: number; window: number; packetSize: number };
      const l = linkAt(i.recipient);
      if (l) l.#onConfirm(i);
      else confirm(p, i);
    };
    const failure = h.CHANNEL_OPEN_FAILURE as (...a: unknown[]) => void;
    h.CHANNEL_OPEN_FAILURE = (p, recipient, reason, description) => {
      const l = linkAt(recipient);
      if (l) l.#onOpenFailure(reason as number, String(description ?? ''));
      else failure(p, recipient, reason, description);
    };
    const data = h.CHANNEL_DATA as (...a: unknown[]) => void;
    h.CHANNEL_DATA = (p, recipient, payload) => {
      const l = linkAt(recipient);
      if (l) l.#onData(payload as Buffer, false);
      else data(p, recipient, payload);
    };
    const extData = h.CHANNEL_EXTENDED_DATA as (...a: unknown[]) => void;
    h.CHANNEL_EXTENDED_DATA = (p, recipient, payload, type) => {
      const l = linkAt(recipient);
      if (l) l.#onData(payload as Buffer, true);
      else extData(p, recipient, payload, type);
    };
    const adjust = h.CHANNEL_WINDOW_ADJUST as (...a: unknown[]) => void;
    h.CHANNEL_WINDOW_ADJUST = (p, recipient, amount) => {
      const l = linkAt(recipient);
      if (l === undefined) adjust(p, recipient, amount);
      else if (l.#outgoing) l.#outgoing.window += amount as number;
    };
    const eof = h.CHANNEL_EOF as (...a: unknown[]) => void;
    h.CHANNEL_EOF = (p, recipient) => {
      const l = linkAt(recipient);
      if (l) l.#onEof();
      else eof(p, recipient);
    };
    const close = h.CHANNEL_CLOSE as (...a: unknown[]) => void;
    h.CHANNEL_CLOSE = (p, recipient) => {
      const l = linkAt(recipient);
      if (l) l.#onClose();
      else close(p, recipient);
    };
    const request = h.CHANNEL_REQUEST as (...a: unknown[]) => void;
    h.CHANNEL_REQUEST = (p, recipient, type, wantReply, payload) => {
      const l = linkAt(recipient);
      if (l === undefined) request(p, recipient, type, wantReply, payload);
      // sshd's keepalive may ask on any open channel; like ssh2, answer that we do not know it.
      else if (wantReply && l.#outgoing && l.#outgoing.state !== 'closed') conn._protocol.channelFailure(l.#outgoing.id);
    };
    // ssh2's teardown of its table would treat a Link as a Channel: tell the links first.
    const cleanup = table.cleanup.bind(table);
    table.cleanup = (err: Error) => {
      for (const id of Object.keys(table._channels)) {
        const l = linkAt(Number(id));
        if (l) l.lost(err);
      }
      cleanup(err);
    };
  }
}
