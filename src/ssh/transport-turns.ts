/**
 * Turns to read, for the local sockets that send into one SSH connection while its
 * transport is congested.
 *
 * A channel's write waits while the transport holds more than `TRANSPORT_HIGH_WATER`
 * unsent (the ssh2 patch's `[transport backpressure]`), and its local socket stops
 * reading at that write (forward/pipe.ts). But each socket has read one chunk first (up
 * to 64 KiB), and when the transport drains, every waiting socket reads its next one at
 * once: a thousand connections sending through one slow link hold a thousand chunks,
 * 64 MB, however little the transport takes. Here a socket that would read while the
 * transport is congested, or while others wait their turn, waits in line instead, with
 * nothing read; each time the transport has room, the first in line read, about as many
 * as fill that room. The rest waits in the kernel's buffers, as with OpenSSH's client.
 *
 * While it is congested, a few turns (as many as would fill it once more) are still
 * given, so that their reads are ready when it drains: one transfer alone reads its next
 * chunk while the transport sends the last, as without turns (waiting for the drain
 * instead cost a single `-R` download a fifth of its speed on loopback).
 */

/** The transport's unsent bytes beyond which a channel's write waits (the ssh2 patch's bound). */
export const TRANSPORT_HIGH_WATER = 1024 * 1024;

/** What a socket reads at most at once (Node's read buffer): turns given per room. */
const READ_BYTES = 64 * 1024;

/** Turns given while the transport is congested, between two of its drains. */
const AHEAD = TRANSPORT_HIGH_WATER / READ_BYTES;

interface Transport {
  readonly writableLength: number;
  on(event: 'drain', fn: () => void): unknown;
  once(event: 'close', fn: () => void): unknown;
}

class Turns {
  readonly #sock: Transport;
  /** Who waits, from `#head` on (given turns are cleared, and cut off now and then). */
  #line: ((() => void) | undefined)[] = [];
  #head = 0;
  #due = false;
  #closed = false;
  /** Turns given while congested since the last drain. */
  #ahead = 0;

  constructor(sock: Transport) {
    this.#sock = sock;
    sock.on('drain', () => {
      this.#ahead = 0;
      this.#give();
    });
    // A transport that closes ends its channels: everyone in line goes on, to find out.
    sock.once('close', () => {
      this.#closed = true;
      this.#give();
    });
  }

  /** More unsent than the bound: a channel's write would wait. */
  #congested(): boolean {
    return this.#sock.writableLength > TRANSPORT_HIGH_WATER;
  }

  request(go: () => void): void {
    if (this.take()) go();
    else {
      this.#line.push(go);
      this.#later();
    }
  }

  /** A turn now, if one is free and nobody waits (true); nothing otherwise. */
  take(): boolean {
    if (this.#head !== this.#line.length || this.#turns() <= 0) return false;
    if (this.#congested()) this.#ahead++;
    return true;
  }

  /** Turns to give now: as many reads as fill the room (at least one), or those left ahead. */
  #turns(): number {
    if (this.#closed) return Infinity;
    if (this.#congested()) return AHEAD - this.#ahead;
    return Math.max(1, Math.floor((TRANSPORT_HIGH_WATER - this.#sock.writableLength) / READ_BYTES));
  }

  /**
   * The first in line, as many as `#turns()`, then again after the reads they start (an
   * immediate runs after the loop's reads): whoever has nothing to send does not hold the
   * line. A congested transport with no turns left gives the next on its 'drain'.
   */
  #give(): void {
    let n = this.#turns();
    if (n <= 0) return;
    if (this.#congested()) this.#ahead += Math.min(n, this.#line.length - this.#head);
    const line = this.#line;
    while (n-- > 0 && this.#head < line.length) {
      const go = line[this.#head];
      line[this.#head++] = undefined;
      go?.();
    }
    if (this.#head === this.#line.length) {
      this.#line = [];
      this.#head = 0;
      return;
    }
    // A line that never empties (congested for hours) must not grow for ever.
    if (this.#head > 1024 && this.#head * 2 > this.#line.length) {
      this.#line = this.#line.slice(this.#head);
      this.#head = 0;
    }
    this.#later();
  }

  #later(): void {
    if (this.#due) return;
    this.#due = true;
    setImmediate(() => {
      this.#due = false;
      this.#give();
    });
  }
}

const turnsBySock = new WeakMap<Transport, Turns>();

/**
 * Runs `go` (the caller's socket starts reading) when it is its turn on the transport of
 * `client` (an ssh2 Client, or a channel's `_client`): at once while the transport has
 * room and nobody waits. Without a transport (not an ssh2 connection), at once.
 */
export function whenTransportRoom(client: unknown, go: () => void): void {
  const turns = turnsOf(client);
  if (turns === undefined) go();
  else turns.request(go);
}

/**
 * Takes a turn on the transport of `client` if one is free now (true: read now), without
 * waiting in line for one (false: nothing taken; ask `whenTransportRoom`). Without a
 * transport, true.
 */
export function takeTransportTurn(client: unknown): boolean {
  return turnsOf(client)?.take() ?? true;
}

function turnsOf(client: unknown): Turns | undefined {
  const sock = (client as { _sock?: Transport } | undefined)?._sock;
  if (sock === undefined || typeof sock.on !== 'function') return undefined;
  let turns = turnsBySock.get(sock);
  if (turns === undefined) {
    turns = new Turns(sock);
    turnsBySock.set(sock, turns);
  }
  return turns;
}

/** The ssh2 Client a channel belongs to, or undefined for any other stream. */
export function clientOf(stream: object): unknown {
  return (stream as { _client?: unknown })._client;
}
