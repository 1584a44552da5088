/**
 * Large reads for the SSH transport socket.
 *
 * Node reads a socket 64 KiB at a time into a fresh buffer. An SSH download arrives as
 * ~32 KiB packets, so each read carries two packets and a split one, and each packet
 * costs a read(2) of its own plus a copy of the split packet. OpenSSH reads up to
 * 256 KiB per call. With `onread`, the socket reads into slices of a 1 MiB arena
 * instead: up to 256 KiB per read(2), consecutive reads land next to each other, and
 * ssh2 decrypts packets in place (the payload it hands on is a view of the arena, so
 * an arena is never reused: a full one is dropped and left to the GC; 1 MiB stays
 * below the size where glibc maps and unmaps each allocation, see `malloc-tune.ts`).
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

export class ReadArena {
  #arena = Buffer.allocUnsafeSlow(ARENA);
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
    socket.on('newListener', (ev: string | symbol) => {
      if (ev === 'data' && this.#held.length) process.nextTick(() => this.#flush());
    });
  }

  #next(): Uint8Array {
    if (ARENA - this.#off < MIN_READ) {
      this.#arena = Buffer.allocUnsafeSlow(ARENA);
      this.#off = 0;
    }
    return this.#arena.subarray(this.#off, Math.min(ARENA, this.#off + MAX_READ));
  }

  #deliver(n: number, buf: Uint8Array): boolean {
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    this.#off += n;
    const s = this.#socket;
    if (!s || s.listenerCount('data') === 0 || this.#held.length) {
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
