/**
 * Channel data straight to the local socket's descriptor.
 *
 * A download arrives as ~32 KiB CHANNEL_DATA packets, eight or so per read of the SSH
 * connection. Through streams each packet is pushed to the channel's readable side,
 * emitted, written to the socket's writable side and batched by a cork: per packet,
 * a good part of what the forwarder spends besides AES. A sink takes the packets of a
 * read instead (views of the read buffer) and sends them together with one
 * sendmsg(2) (`native/sendv.c`) after ssh2 has parsed the read. Whatever the kernel
 * does not take goes to `socket.write` as one copy (the views must not outlive the
 * parse: the read arena reuses their memory), and while Node holds bytes for the
 * socket the sink hands it each read's packets that way.
 *
 * Backpressure is the window's: bytes the sink took count as unread (`held`, which
 * ssh2 does not re-credit to the server) until the kernel has them. A stalled reader
 * holds at most the channel window, in the socket's write queue. (Refusing packets
 * above a high-water mark instead sent a quarter of a loopback download through the
 * streams, one packet at a time, whenever the reader fell behind for a moment.)
 *
 * While a download runs on an AES-GCM connection, the native receive loop
 * (ssh/native-rx.ts) takes the sink's packets instead of ssh2's parse, and reports to
 * it (`native`, `evicted`).
 *
 * Without the addon (no compiler at install) or without a descriptor (not a TCP or
 * unix socket of this process), `attachSink` does nothing and streams carry the data.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { nativeSinkAttach, nativeSinkDetach, socketFd, writesPending, type NativeSink, type RxChannel } from '../ssh/native-rx.js';
import { sendOne, sendv as sendvAddon } from '../ssh/sendv.js';

const sendv = process.env.BURROW_NO_SINK ? undefined : sendvAddon;

/**
 * Sends `data` to descriptor `fd` now: the bytes the kernel took, or -1 (no addon, no
 * descriptor, an error: the caller's socket write takes it all and reports the error).
 */
export function sendDirect(fd: number, data: Uint8Array): number {
  return sendv === undefined ? -1 : sendOne(fd, data);
}

/**
 * Bytes sinks sent straight to the kernel, and bytes they handed to Node's socket
 * write instead (the kernel's buffer was full, or Node still held bytes). For tests
 * and diagnostics: both paths must carry data intact and in order.
 */
export const sinkCounters = { direct: 0, viaSocket: 0 };

/** What ssh2's patched Channel offers each payload to (`setSink`, patches/README.md). */
export interface ChannelSink {
  pending: boolean;
  /** Taken, not yet delivered: ssh2 does not re-credit these to the server. */
  held: number;
  take(data: Uint8Array): boolean;
  /** After the parse of a read: the taken views are not valid past it (read-arena.ts). */
  flush(): void;
}

/** ssh2's patched Channel, as a sink sees it. */
export interface SinkChannel extends Duplex {
  setSink(sink: ChannelSink | undefined): void;
  /** `held` went down: re-credit the window. */
  sinkDelivered(): void;
  /** Data taken for the sink outside ssh2's parse (ssh/native-rx.ts): count it against the window. */
  sinkReceived(n: number): void;
}

function hasSetSink(d: Duplex): d is SinkChannel {
  const c = d as Partial<SinkChannel>;
  return typeof c.setSink === 'function' && typeof c.sinkDelivered === 'function' && typeof c.sinkReceived === 'function';
}

/**
 * Memory for the copies of what the kernel did not take, reused once Node has written
 * it: a read's packets fit one (reads are at most 256 KiB, plus a packet begun in an
 * earlier read). Fresh buffers each time would be new pages to fault in and garbage
 * that only a GC frees. Shared by all sinks. Up to 64 are kept (20 MiB, a loopback
 * download's window of them in flight: with 16 kept, the rest were made again each
 * time), and all are let go once no sink has spilled for 10–20 s.
 */
const SPILL = 320 * 1024;
const MAX_SPARES = 64;
const TRIM_MS = 10_000;
const spares: Buffer[] = [];
let spilled = false;
let trimTimer: NodeJS.Timeout | undefined;

function keepSpare(buf: Buffer): void {
  if (buf.length !== SPILL || spares.length >= MAX_SPARES) return;
  spares.push(buf);
  trimTimer ??= setInterval(trimSpares, TRIM_MS).unref();
}

function trimSpares(): void {
  if (spilled) {
    spilled = false;
    return;
  }
  spares.length = 0;
  clearInterval(trimTimer);
  trimTimer = undefined;
}

/** Spill buffers kept for reuse (tests, diagnostics). */
export function spareCount(): number {
  return spares.length;
}

class SocketSink implements ChannelSink, NativeSink {
  pending = false;
  held = 0;
  #queue: Uint8Array[] = [];
  #queued = 0;

  constructor(
    private readonly socket: Socket,
    private readonly channel: SinkChannel,
    private readonly onBytes: (n: number) => void,
  ) {}

  take(data: Uint8Array): boolean {
    // Nothing may be left in the channel ahead of these bytes (packets that took the
    // stream path go first). Once it took a packet of this read it takes the rest:
    // refusing one now would let it overtake the queued ones.
    if (this.#queue.length === 0 && (this.channel.readableLength !== 0 || !this.socket.writable)) return false;
    this.#queue.push(data);
    this.#queued += data.length;
    this.held += data.length;
    this.onBytes(data.length);
    return true;
  }

  flush(): void {
    const queue = this.#queue;
    const total = this.#queued;
    if (queue.length === 0) return;
    this.#queue = [];
    this.#queued = 0;
    const s = this.socket;
    // Straight to the kernel only when nothing is queued for the socket (in Node or in
    // its handle): bytes must not overtake what is still held.
    const fd = s.destroyed || writesPending(s) ? -1 : socketFd(s);
    let sent = fd >= 0 ? sendv!(fd, queue) : 0;
    if (sent < 0) sent = 0; // an error: Node's write reports it
    sinkCounters.direct += sent;
    this.held -= sent;
    if (sent < total) this.#spill(queue, sent, total - sent);
    if (sent > 0) this.channel.sinkDelivered();
  }

  /**
   * The native receive loop (ssh/native-rx.ts) sent `received` more bytes of this
   * channel to the socket, and holds `held` of all it took that the kernel has not.
   */
  native(received: number, held: number): void {
    if (received > 0) {
      this.channel.sinkReceived(received);
      this.onBytes(received);
    }
    sinkCounters.direct += received - (held - this.held);
    this.held = held;
    this.channel.sinkDelivered();
  }

  /**
   * The native loop let go of this sink (a message for the channel came, or the loop
   * stopped): what it held goes to Node's socket write, ahead of what follows.
   */
  evicted(held: Buffer): void {
    const n = held.length;
    this.held = n;
    sinkCounters.viaSocket += n;
    this.socket.write(held, () => {
      this.held -= n;
      this.channel.sinkDelivered();
    });
  }

  /** The last `n` bytes of `queue` (after `sent`) to Node's socket write, as one copy. */
  #spill(queue: Uint8Array[], sent: number, n: number): void {
    sinkCounters.viaSocket += n;
    spilled = true;
    const buf = n <= SPILL ? (spares.pop() ?? Buffer.allocUnsafeSlow(SPILL)) : Buffer.allocUnsafeSlow(n);
    let off = 0;
    for (const part of queue) {
      if (sent >= part.length) {
        sent -= part.length;
        continue;
      }
      buf.set(sent > 0 ? part.subarray(sent) : part, off);
      off += part.length - sent;
      sent = 0;
    }
    this.socket.write(buf.subarray(0, n), () => {
      // Written (or failed: the socket is gone): Node is done with the memory.
      keepSpare(buf);
      this.held -= n;
      this.channel.sinkDelivered();
    });
  }
}

/**
 * Sends `data` to `socket`'s descriptor now, if nothing is queued for the socket (its
 * bytes must not overtake those: `writesPending`). Returns how many bytes the kernel
 * took, or -1 when this is not possible (no addon, no descriptor, bytes queued): the
 * caller writes the rest through the socket, as a copy if `data` is a view of reused
 * memory.
 */
export function sendNow(socket: Socket, data: Uint8Array): number {
  if (socket.destroyed || socket.writableEnded || writesPending(socket)) return -1;
  return sendDirect(socketFd(socket), data);
}

/**
 * Lets `channel` hand its data straight to `socket` (see above). Returns the detach
 * function, or undefined when the fast path is not available.
 */
export function attachSink(socket: Socket, channel: Duplex, onBytes: (n: number) => void): (() => void) | undefined {
  const fd = socketFd(socket);
  if (sendv === undefined || !hasSetSink(channel) || fd < 0) return undefined;
  channel.setSink(new SocketSink(socket, channel, onBytes));
  const rx = channel as unknown as RxChannel;
  const native = nativeSinkAttach(rx, socket, fd);
  return () => {
    if (native) nativeSinkDetach(rx);
    channel.setSink(undefined);
  };
}
