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
 * socket the sink hands it each read's packets that way. Above the socket's high-water
 * mark it refuses them: they take the stream path (ssh2 pushes copies), where the pump
 * pauses the channel, the channel keeps them unread and ssh2 stops re-crediting the
 * window (a stalled reader holds the window plus one read, as without the sink).
 *
 * Without the addon (no compiler at install) or without a descriptor (not a TCP or
 * unix socket of this process), `attachSink` does nothing and streams carry the data.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

type Sendv = (fd: number, bufs: Uint8Array[]) => number;

const sendv: Sendv | undefined = (() => {
  if (process.env.BURROW_NO_SINK) return undefined;
  try {
    const addon = createRequire(import.meta.url)('../../native/build/Release/sendv.node') as { sendv: Sendv };
    return addon.sendv;
  } catch {
    return undefined;
  }
})();

/**
 * Bytes sinks sent straight to the kernel, and bytes they handed to Node's socket
 * write instead (the kernel's buffer was full, or Node still held bytes). For tests
 * and diagnostics: both paths must carry data intact and in order.
 */
export const sinkCounters = { direct: 0, viaSocket: 0 };

/** What ssh2's patched Channel offers each payload to (`setSink`, patches/README.md). */
interface ChannelSink {
  pending: boolean;
  take(data: Uint8Array): boolean;
  /** After the parse of a read: the taken views are not valid past it (read-arena.ts). */
  flush(): void;
}

interface SinkChannel extends Duplex {
  setSink(sink: ChannelSink | undefined): void;
}

function hasSetSink(d: Duplex): d is SinkChannel {
  return typeof (d as Partial<SinkChannel>).setSink === 'function';
}

/** The socket's descriptor, or -1 (closed, or not a descriptor-backed socket). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

class SocketSink implements ChannelSink {
  pending = false;
  #queue: Uint8Array[] = [];
  #queued = 0;

  constructor(
    private readonly socket: Socket,
    private readonly channel: Duplex,
    private readonly onBytes: (n: number) => void,
  ) {}

  take(data: Uint8Array): boolean {
    const s = this.socket;
    // Nothing may be left in the channel ahead of these bytes, and the socket takes
    // them only below its high-water mark, as a stream write would: above it the
    // channel keeps them (unread, so not re-credited) until the socket drains.
    // Once it took a packet of this read it takes the rest: refusing one now would let
    // it overtake the queued ones (the stream path writes at once).
    if (this.#queue.length === 0 && (this.channel.readableLength !== 0 || !s.writable || s.writableLength >= s.writableHighWaterMark)) return false;
    this.#queue.push(data);
    this.#queued += data.length;
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
    // Straight to the kernel only when Node has nothing queued for the socket: bytes
    // must not overtake what Node still holds.
    const fd = s.destroyed || s.writableLength !== 0 ? -1 : socketFd(s);
    let sent = fd >= 0 ? sendv!(fd, queue) : 0;
    if (sent > 0) sinkCounters.direct += sent;
    if (sent === total) return;
    // The rest goes through Node (all of it on an error: Node's write reports it) as
    // one copy: views of the read would keep its whole arena from reuse (read-arena.ts),
    // and a fresh arena costs far more than copying what the kernel did not take.
    if (sent < 0) sent = 0;
    sinkCounters.viaSocket += total - sent;
    const rest = Buffer.allocUnsafe(total - sent);
    let off = 0;
    for (const buf of queue) {
      if (sent >= buf.length) {
        sent -= buf.length;
        continue;
      }
      const piece = sent > 0 ? buf.subarray(sent) : buf;
      rest.set(piece, off);
      off += piece.length;
      sent = 0;
    }
    s.write(rest);
  }
}

/**
 * Lets `channel` hand its data straight to `socket` (see above). Returns the detach
 * function, or undefined when the fast path is not available.
 */
export function attachSink(socket: Socket, channel: Duplex, onBytes: (n: number) => void): (() => void) | undefined {
  if (sendv === undefined || !hasSetSink(channel) || socketFd(socket) < 0) return undefined;
  channel.setSink(new SocketSink(socket, channel, onBytes));
  return () => channel.setSink(undefined);
}
