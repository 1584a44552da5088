/**
 * Large reads for the SSH transport socket, into memory that is reused.
 *
 * Node reads a socket 64 KiB at a time into a fresh buffer. An SSH download arrives as
 * ~32 KiB packets, so each read carries two packets and a split one, and each packet
 * costs a read(2) of its own plus a copy of the split packet. OpenSSH reads up to
 * 256 KiB per call. With `onread`, the socket reads into slices of a 1 MiB arena
 * instead: up to 256 KiB per read(2), consecutive reads land next to each other, and
 * ssh2 decrypts packets in place (the payloads it hands on are views of the arena),
 * those cut by a read boundary too (`socket.ssh2StableReads`).
 *
 * Two arenas take turns. A full one is reused when its turn comes again, unless a view
 * of it may still be alive: ssh2 reports each view it hands on beyond the parse of a
 * read (`socket.ssh2Retain`, patches/README.md: payloads pushed to the stream of a
 * channel without a sink; other messages, and packets a sink refused, reach their
 * handlers as copies), and such an arena is dropped and left to the GC (1 MiB stays
 * below the size where glibc maps and unmaps each allocation, see `malloc-tune.ts`).
 * A download through a sink (forward/sink.ts) retains nothing, whatever its reader
 * does: it runs in 2 MiB of memory that stays in the caches.
 * A packet split across the end of an arena is copied and finished with the first reads
 * of the other one, long before its turn comes again.
 *
 * `onread` turns off the socket's 'data' events; the arena emits them itself, so
 * consumers (ssh2, keepalive) see an ordinary socket. Chunks read before anyone
 * listens (ssh2 attaches after the connect) are held and delivered in order when
 * the first 'data' listener arrives.
 */
import type { Socket, OnReadOpts } from 'node:net';

const ARENA = 1024 * 1024;
const MAX_READ = 256 * 1024;
const MIN_READ = 64 * 1024;

interface Slot {
  buf: Buffer;
  /** A view of `buf` may outlive the read it came from: do not reuse it. */
  retained: boolean;
}

/** Arenas reused and arenas dropped to the GC, all transports together (tests, diagnostics). */
export const arenaCounters = { reused: 0, dropped: 0 };

const newSlot = (retained: boolean): Slot => ({ buf: Buffer.allocUnsafeSlow(ARENA), retained });

export class ReadArena {
  // The first arena holds the handshake, where ssh2 may keep views it does not report (the
  // identification line): never reused. The second one is made when the first is full.
  #slots: [Slot, Slot | undefined] = [newSlot(true), undefined];
  #cur: 0 | 1 = 0;
  #arena = this.#slots[0].buf;
  #off = 0;
  #socket: Socket | undefined;
  #held: Buffer[] = [];

  /** The `onread` option for `net.connect`. */
  readonly onread: OnReadOpts = {
    buffer: () => this.#next(),
    callback: (n: number, buf: Uint8Array) => this.#deliver(n, buf),
  };

  /**
   * Binds the socket the chunks are emitted on (the one created with `onread`). Held
   * chunks go to whoever listens first: ssh2, which attaches before anything else
   * (burrow's keepalive listens only once the session is up).
   */
  attach(socket: Socket): void {
    this.#socket = socket;
    const s = socket as Socket & { ssh2Retain?: (view: Uint8Array) => void; ssh2StableReads?: boolean };
    s.ssh2Retain = (view) => this.retain(view);
    // A read stays where it landed until long after the next one is parsed (an arena is
    // reused only once the other one is full): ssh2 may decrypt a packet cut by a read
    // boundary where its pieces lie when they are adjacent (patches/README.md).
    s.ssh2StableReads = true;
    socket.on('newListener', (ev: string | symbol) => {
      if (ev === 'data' && this.#held.length) process.nextTick(() => this.#flush());
    });
  }

  /** A view of a chunk (or of a packet in one) may be kept past its parse. */
  retain(view: Uint8Array): void {
    const [a, b] = this.#slots;
    if (view.buffer === a.buf.buffer) a.retained = true;
    else if (b !== undefined && view.buffer === b.buf.buffer) b.retained = true;
  }

  #next(): Uint8Array {
    if (ARENA - this.#off < MIN_READ) {
      this.#cur = this.#cur === 0 ? 1 : 0;
      let slot = this.#slots[this.#cur];
      if (slot === undefined || slot.retained) {
        if (slot !== undefined) arenaCounters.dropped++;
        slot = newSlot(false);
        this.#slots[this.#cur] = slot;
      } else {
        arenaCounters.reused++;
      }
      this.#arena = slot.buf;
      this.#off = 0;
    }
    return this.#arena.subarray(this.#off, Math.min(ARENA, this.#off + MAX_READ));
  }

  #deliver(n: number, buf: Uint8Array): boolean {
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    this.#off += n;
    const s = this.#socket;
    if (!s || s.listenerCount('data') === 0 || this.#held.length) {
      this.retain(chunk);
      this.#held.push(chunk);
      return true;
    }
    s.emit('data', chunk);
    return true;
  }

  #flush(): void {
    const s = this.#socket;
    if (!s || s.listenerCount('data') === 0) return;
    const held = this.#held;
    this.#held = [];
    for (const c of held) s.emit('data', c);
  }
}
