/**
 * The receive loop of an AES-GCM connection in native code (native/rx-loop.c).
 *
 * While a channel of the connection has a sink (forward/sink.ts), the SSH socket is
 * read by the addon instead of by Node: it decrypts, sends the sinks' data to their
 * sockets, and hands everything else to ssh2's payload handler, in order. Node's
 * socket is paused meanwhile (Node reads it again once the loop stops).
 *
 * The loop starts at a packet boundary after a large read of Node's (a download's),
 * with ssh2's decipher state (key, IV, packets so far). It hands back the undecrypted
 * rest, and ssh2's decipher goes on where it stopped (`rebase`), at a key exchange
 * (KEXINIT: it starts again on the next decipher), at DISCONNECT, and after reads
 * without data for its sinks (an upload's window adjusts).
 *
 * A channel's data goes to its sink in the addon only from a moment when nothing of
 * the channel waits in JavaScript (its stream, the sink's queue, Node's writes to
 * the socket); until then ssh2's handler gets it, as before. What the sinks took is
 * reported (`onRun`) when ssh2's window logic needs to hear of it (`sinkQuiet`: an
 * adjust due, or the tuner's probe), before any other payload, and within 100 ms.
 *
 * Off with BURROW_NO_NATIVE_RX=1, and without the addon (no compiler at install):
 * ssh2 reads as before.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { holdReads } from './hold-reads.js';

interface Addon {
  start(
    fd: number,
    cipher: string,
    key: Buffer,
    iv: Buffer,
    packetsDone: number,
    onPayload: (p: Buffer) => boolean,
    onRun: (n: number) => void,
    onStop: (rest: Buffer, packets: number, err: number) => void,
    onEvict: (recipient: number, held: Buffer) => void,
    report: Int32Array,
  ): Handle;
  setSink(h: Handle, recipient: number, fd: number, window: number): boolean;
  /** Returns the bytes the sink received that no report told of. */
  clearSink(h: Handle, recipient: number): number;
  setPump(h: Handle, recipient: number, pump: object, api: object): boolean;
  clearPump(h: Handle, recipient: number): void;
  stop(h: Handle): void;
  /** The nap after a large read that emptied the socket (rx-loop.c), in ms; 0: none. */
  setNap(ms: number): void;
  /** Naps taken so far, every loop together. */
  naps(): number;
  /** Whether a loop on descriptor `fd` would nap (a TCP socket's). */
  mayNap(fd: number): boolean;
}
type Handle = { readonly __rxLoop: unique symbol };

const addon: Addon | undefined = (() => {
  if (process.env.BURROW_NO_NATIVE_RX) return undefined;
  try {
    const a = createRequire(import.meta.url)('../../native/build/Release/rx_loop.node') as Addon;
    // BURROW_NO_RX_NAP=1: the loop reads each time the socket is readable (A/Bs).
    if (process.env.BURROW_NO_RX_NAP) a.setNap(0);
    return a;
  } catch {
    return undefined;
  }
})();

/** The addon loaded, and BURROW_NO_NATIVE_RX is not set (`burrow --version -v`). */
export const nativeRxAvailable = addon !== undefined;

/**
 * Loops started, bytes their sinks took, reports of those bytes (each a call into
 * JavaScript), calls that said only that upload pumps got 16 more window adjusts
 * from the loop, and naps after large reads (rx-loop.c); all connections together
 * (tests, diagnostics).
 */
export const nativeRxCounters = {
  started: 0,
  bytes: 0,
  reports: 0,
  pumpPulses: 0,
  get naps(): number {
    return addon?.naps() ?? 0;
  },
};

/** Whether the receive loop would nap on descriptor `fd` (TCP only; tests). */
export function loopMayNap(fd: number): boolean | undefined {
  return addon?.mayNap(fd);
}

/** ssh2's AES-GCM decipher as patched (patches/README.md, `[native rx]`). */
interface Decipher {
  atBoundary(): boolean;
  packetsDone(): number;
  rebase(packets: number): void;
  _onPayload(payload: Buffer): unknown;
  _sslName: string;
  _key: Buffer;
  _iv: Buffer;
}

interface Protocol {
  _server: boolean;
  _decipher: unknown;
  _onPacket(): void;
  parse(chunk: Buffer, i: number, len: number): void;
}

/** What this module needs of a channel (ssh2's patched Channel). */
export interface RxChannel {
  _client: object;
  incoming: { id: number; window: number };
  readableLength: number;
  _sink?: NativeSink;
  /** Bytes the loop may take before the window logic must hear of them (ssh2 patch `[native rx]`). */
  sinkQuiet(): number;
}

/** A channel's sink, as the loop reports to it. */
export interface NativeSink {
  held: number;
  /** The loop sent `received` bytes to the socket or holds them (`held` in all). */
  native(received: number, held: number): void;
  /** The loop let go of the sink: `held` (its bytes the socket has not taken) go on through Node. */
  evicted(held: Buffer): void;
}

interface ClientLike {
  _sock?: Socket;
  _protocol?: Protocol;
  /** Flushes the channels' sinks that took data from the payloads parsed so far (the ssh2 patch). */
  _flushSinks?(): void;
}

interface Entry {
  channel: RxChannel;
  socket: Socket;
  fd: number;
  inLoop: boolean;
}

const REPORT_W = 5;
const KEXINIT = 20;
const DISCONNECT = 1;
const EMPTY = Buffer.alloc(0);
/**
 * A read at least this large starts the loop (a download's; an upload brings window
 * adjusts of 36 bytes, which ssh2's parse handles for less than the loop's call into
 * JavaScript each). The loop hands back after reads without sink data (rx-loop.c).
 */
const BULK_READ = 32 * 1024;
/** How often, at most, burrow's keepalive hears of traffic read by the loop. */
const PULSE_MS = 250;

class Connection {
  #handle: Handle | undefined;
  /** The decipher of a key exchange under way: the loop starts again on the next one. */
  #kexDec: unknown;
  #base = 0;
  #lastPulse = 0;
  #failed = false;
  readonly #entries = new Map<number, Entry>();
  /** Upload pumps (native-pump.ts) by channel: the loop gives them their window adjusts. */
  readonly #pumps = new Map<number, { pump: object; api: object }>();
  readonly #report = new Int32Array(REPORT_W * 1024);

  constructor(
    private readonly client: ClientLike,
    private readonly socket: Socket,
    private readonly proto: Protocol,
  ) {
    // After ssh2's own listener: the read has been parsed.
    socket.on('data', (chunk: Buffer) => {
      if (chunk.length >= BULK_READ || (this.#pumps.size > 0 && chunk.length > 0)) this.#maybeStart();
    });
    socket.once('close', () => this.#stop());
  }

  attach(channel: RxChannel, socket: Socket, fd: number): void {
    const id = channel.incoming.id;
    // A closed channel whose number this one now has (the loop drops a sink at CLOSE;
    // this is in case JavaScript heard of it first).
    const stale = this.#entries.get(id);
    if (stale?.inLoop && this.#handle !== undefined) this.#clear(stale.channel, id);
    this.#entries.set(id, { channel, socket, fd, inLoop: false });
    if (this.#handle !== undefined) this.#admit();
  }

  detach(channel: RxChannel): void {
    const id = channel.incoming.id;
    const e = this.#entries.get(id);
    if (e === undefined || e.channel !== channel) return;
    this.#entries.delete(id);
    if (e.inLoop && this.#handle !== undefined) this.#clear(channel, id);
  }

  /** Takes the channel's sink out of the loop, with what it received unreported. */
  #clear(channel: RxChannel, id: number): void {
    const unreported = addon!.clearSink(this.#handle!, id);
    const sink = channel._sink;
    if (unreported > 0 && sink !== undefined) {
      nativeRxCounters.bytes += unreported;
      sink.native(unreported, sink.held);
    }
  }

  /** The window adjusts of channel `id` go to its upload pump while the loop runs. */
  attachPump(id: number, pump: object, api: object): void {
    this.#pumps.set(id, { pump, api });
    if (this.#handle !== undefined) addon!.setPump(this.#handle, id, pump, api);
    else this.#maybeStart();
  }

  detachPump(id: number, pump: object): void {
    if (this.#pumps.get(id)?.pump !== pump) return;
    this.#pumps.delete(id);
    if (this.#handle !== undefined) addon!.clearPump(this.#handle, id);
  }

  #maybeStart(): void {
    if (this.#handle !== undefined || (this.#entries.size === 0 && this.#pumps.size === 0)) return;
    const dec = this.proto._decipher as Partial<Decipher> | undefined;
    if (dec === undefined || dec === this.#kexDec || typeof dec.atBoundary !== 'function' || !dec.atBoundary()) return;
    // Bytes Node read and ssh2 has not seen (a paused socket without `onread`) come first.
    if (this.socket.readableLength !== 0) return;
    const fd = socketFd(this.socket);
    if (fd < 0) return;
    this.#start(dec as Decipher, fd);
  }

  #start(dec: Decipher, fd: number): void {
    this.#base = dec.packetsDone();
    this.socket.pause();
    holdReads(this.socket, true);
    this.#handle = addon!.start(
      fd,
      dec._sslName,
      dec._key,
      dec._iv,
      this.#base,
      (p) => this.#onPayload(dec, p),
      (n) => this.#onRun(n),
      (rest, packets) => this.#onStop(dec, rest, packets),
      (id, held) => this.#onEvict(id, held),
      this.#report,
    );
    nativeRxCounters.started++;
    for (const [id, p] of this.#pumps) addon!.setPump(this.#handle, id, p.pump, p.api);
    this.#admit();
  }

  /** Hands the loop each sink whose channel has nothing waiting in JavaScript. */
  #admit(): void {
    const h = this.#handle;
    if (h === undefined) return;
    for (const [id, e] of this.#entries) {
      if (e.inLoop) continue;
      const sink = e.channel._sink;
      if (sink === undefined || sink.held !== 0 || e.channel.readableLength !== 0) continue;
      if (!e.socket.writable || writesPending(e.socket)) continue;
      e.inLoop = addon!.setSink(h, id, e.fd, e.channel.incoming.window);
    }
  }

  #onPayload(dec: Decipher, p: Buffer): boolean {
    let ret: unknown;
    try {
      ret = dec._onPayload(p);
      this.#flushJsSinks();
    } catch (err) {
      this.#fail(err);
      return true;
    }
    this.#pulse();
    const type = p[0];
    if (type === KEXINIT) this.#kexDec = dec;
    const stop = ret !== undefined || type === KEXINIT || type === DISCONNECT || this.proto._decipher !== dec;
    if (!stop) this.#admit();
    return stop;
  }

  #onRun(n: number): void {
    // n = 0: no sink to report; the loop gave upload pumps 16 more window adjusts.
    if (n === 0) nativeRxCounters.pumpPulses++;
    else nativeRxCounters.reports++;
    try {
      this.#account(n);
    } catch (err) {
      this.#fail(err);
      this.#stop();
    }
  }

  #account(n: number): void {
    const r = this.#report;
    this.proto._onPacket();
    for (let i = 0; i < n; i++) {
      const row = i * REPORT_W;
      const id = r[row]!;
      const channel = this.#entries.get(id)?.channel;
      if (channel === undefined) continue;
      const received = r[row + 1]!;
      const held = r[row + 2]!;
      nativeRxCounters.bytes += received;
      channel._sink?.native(received, held < 0 ? 0 : held);
      r[row + 3] = Math.max(0, Math.min(channel.incoming.window, 0x7fffffff));
      r[row + 4] = Math.max(0, Math.min(channel.sinkQuiet(), 0x7fffffff));
    }
    this.#pulse();
  }

  /** burrow's keepalive counts 'data' events as signs of life: the loop's reads are none. */
  #pulse(): void {
    const now = performance.now();
    if (now - this.#lastPulse >= PULSE_MS) {
      this.#lastPulse = now;
      this.socket.emit('data', EMPTY);
    }
  }

  /**
   * The loop let go of a channel's sink (a message for the channel came, or it stopped);
   * `held` is what the socket has not taken yet.
   */
  #onEvict(id: number, held: Buffer): void {
    const e = this.#entries.get(id);
    if (e === undefined || !e.inLoop) return;
    e.inLoop = false;
    if (held.length > 0) e.channel._sink?.evicted(held);
  }

  #onStop(dec: Decipher, rest: Buffer, packets: number): void {
    this.#handle = undefined;
    for (const e of this.#entries.values()) e.inLoop = false;
    if (this.proto._decipher === dec) dec.rebase(this.#base + packets);
    holdReads(this.socket, false);
    if (this.socket.destroyed || this.#failed) return;
    this.socket.resume();
    try {
      if (rest.length > 0) this.proto.parse(rest, 0, rest.length);
      this.#flushJsSinks();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** As ssh2 does when a read does not parse: the client's 'error', and the socket ends. */
  #fail(err: unknown): void {
    this.#failed = true;
    (this.client as unknown as EventEmitter).emit('error', err);
    try {
      if (this.socket.writable) this.socket.end();
    } catch {
      // already gone
    }
  }

  #stop(): void {
    if (this.#handle !== undefined) addon!.stop(this.#handle);
  }

  /** ssh2 flushes sinks after each parse of a read; the loop's reads are not parsed there. */
  #flushJsSinks(): void {
    this.client._flushSinks?.();
  }
}

const connections = new WeakMap<object, Connection | null>();

/** The socket's descriptor, or -1 (closed, or not a descriptor-backed socket). */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/**
 * Bytes wait to be written to `socket`: in its stream (Node's queue, corked writes
 * included) or in its handle (libuv's). A socket made from a Conn (forward/conn.ts)
 * starts with the Conn's unsent writes in its handle and none in its stream: bytes sent
 * straight to the descriptor then would overtake them.
 */
export function writesPending(socket: Socket): boolean {
  if (socket.writableLength !== 0) return true;
  const queued = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return typeof queued === 'number' && queued !== 0;
}

function connectionOf(clientObj: unknown): Connection | undefined {
  if (typeof clientObj !== 'object' || clientObj === null) return undefined;
  const known = connections.get(clientObj);
  if (known !== undefined) return known ?? undefined;
  const client = clientObj as ClientLike;
  const socket = client._sock;
  const proto = client._protocol;
  let conn: Connection | null = null;
  // A client's connection over a TCP or unix socket of this process (not a
  // ProxyCommand's pipes, nor a channel of another connection).
  if (socket !== undefined && proto !== undefined && proto._server === false && socketFd(socket) >= 0) {
    conn = new Connection(client, socket, proto);
  }
  connections.set(clientObj, conn);
  return conn ?? undefined;
}

/** A sink for `channel` writes to `socket` (descriptor `fd`): the loop may take its data. */
export function nativeSinkAttach(channel: RxChannel, socket: Socket, fd: number): boolean {
  if (addon === undefined) return false;
  const conn = connectionOf(channel._client);
  if (conn === undefined) return false;
  conn.attach(channel, socket, fd);
  return true;
}

/**
 * The window adjusts of `channel` go to its upload pump (native-pump.ts) while the loop
 * runs, without JavaScript; the loop starts for it if it can. False without the loop.
 */
export function nativePumpAttach(client: object, id: number, pump: object, api: object): boolean {
  if (addon === undefined) return false;
  const conn = connectionOf(client);
  if (conn === undefined) return false;
  conn.attachPump(id, pump, api);
  return true;
}

export function nativePumpDetach(client: object, id: number, pump: object): void {
  if (addon !== undefined) connectionOf(client)?.detachPump(id, pump);
}

export function nativeSinkDetach(channel: RxChannel): void {
  connectionOf(channel._client)?.detach(channel);
}
