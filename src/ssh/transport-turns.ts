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
 *
 * A turn holds room until its socket reads (the caller says so with `Turn.done`): a
 * socket whose peer has not sent yet (a target just connected) reads later, when the
 * data comes, and a thousand of them given turns at once on an empty transport would
 * all read into it then, congested by the first few. A turn whose socket stays silent (a
 * client that waits for the server to speak first) stops holding room after `turnHold.ms`.
 */

/** The transport's unsent bytes beyond which a channel's write waits (the ssh2 patch's bound). */
export const TRANSPORT_HIGH_WATER = 1024 * 1024;

/** What a socket reads at most at once (Node's read buffer): turns given per room. */
const READ_BYTES = 64 * 1024;

/** Reads into the congested transport between two of its drains. */
const AHEAD = TRANSPORT_HIGH_WATER / READ_BYTES;

/**
 * How long (ms) a turn given holds room while its socket has read nothing: a peer on
 * this machine with something to send has sent by then. Tests lengthen it.
 */
export const turnHold = { ms: 5 };

interface Transport {
  readonly writableLength: number;
  on(event: 'drain', fn: () => void): unknown;
  once(event: 'close', fn: () => void): unknown;
}

/** A turn given: its socket may read. `done()` once it has read, ended, or no longer will. */
export interface Turn {
  done(): void;
}

/** The turn of a socket on no SSH transport, or on one that closed: it holds nothing. */
const FREE: Turn = { done() {} };

class Given implements Turn {
  /** It holds no room: its socket read (`done`), or it stopped holding room. */
  over = false;
  /** Its socket read, or will not (`done`). */
  read = false;
  constructor(
    readonly turns: Turns,
    /** Given while the transport was congested (counted ahead then). */
    readonly ahead: boolean,
    /** When it stops holding room without a read. */
    readonly until: number,
  ) {}

  done(): void {
    this.turns.done(this);
  }
}

class Turns {
  readonly #sock: Transport;
  /** Who waits, from `#head` on (given turns are cleared, and cut off now and then). */
  #line: (((turn: Turn) => void) | undefined)[] = [];
  #head = 0;
  #due = false;
  #closed = false;
  /**
   * Reads into the congested transport since its last drain: turns given while it was,
   * and turns given before that read while it was.
   */
  #ahead = 0;
  /** Turns given whose sockets have not read yet, oldest first (some may be over). */
  #open: Given[] = [];
  /** Of those, how many are not over, and how many of these were given with room. */
  #holding = 0;
  #holdingRoom = 0;
  /** Wakes the line when the oldest open turn stops holding room. */
  #timer: NodeJS.Timeout | undefined;

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

  request(go: (turn: Turn) => void): void {
    const turn = this.take();
    if (turn) go(turn);
    else {
      this.#line.push(go);
      this.#later();
    }
  }

  /** A turn now, if one is free and nobody waits; false otherwise (nothing taken). */
  take(): Turn | false {
    if (this.#head !== this.#line.length || this.#turns() <= 0) return false;
    return this.#given();
  }

  #given(): Turn {
    if (this.#closed) return FREE;
    const ahead = this.#congested();
    if (ahead) this.#ahead++;
    else this.#holdingRoom++;
    this.#holding++;
    const turn = new Given(this, ahead, performance.now() + turnHold.ms);
    this.#open.push(turn);
    return turn;
  }

  done(turn: Given): void {
    if (turn.read) return;
    turn.read = true;
    // A turn given with room, read into the congested transport: it counts ahead now.
    if (!turn.ahead && this.#congested()) this.#ahead++;
    if (turn.over) return;
    this.#release(turn);
    if (this.#head !== this.#line.length) this.#later();
  }

  #release(turn: Given): void {
    turn.over = true;
    this.#holding--;
    if (!turn.ahead) this.#holdingRoom--;
  }

  /**
   * Turns to give now: as many reads as fill the room, less the reads still to come (at
   * least one if none are); while congested, as many as fill it once more, less the
   * reads it took since its last drain and those still to come.
   */
  #turns(): number {
    if (this.#closed) return Infinity;
    const open = this.#open;
    if (open.length > 0) {
      const now = performance.now();
      let k = 0;
      for (; k < open.length; k++) {
        const turn = open[k] as Given;
        if (!turn.over) {
          if (turn.until > now) break;
          this.#release(turn);
        }
      }
      if (k > 0) open.splice(0, k);
    }
    if (this.#congested()) return AHEAD - this.#ahead - this.#holdingRoom;
    const room = Math.floor((TRANSPORT_HIGH_WATER - this.#sock.writableLength) / READ_BYTES) - this.#holding;
    return this.#holding === 0 ? Math.max(1, room) : room;
  }

  /**
   * The first in line, as many as `#turns()`, then again after the reads they start (an
   * immediate runs after the loop's reads): whoever has nothing to send does not hold the
   * line. A congested transport with no turns left gives the next on its 'drain'; turns
   * still to be read, when one is or stops holding room.
   */
  #give(): void {
    let n = this.#turns();
    if (n <= 0) {
      if (!this.#congested() && this.#head !== this.#line.length) this.#wake();
      return;
    }
    const line = this.#line;
    while (n-- > 0 && this.#head < line.length) {
      const go = line[this.#head];
      line[this.#head++] = undefined;
      go?.(this.#given());
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

  /** The line again when the oldest turn still to be read stops holding room. */
  #wake(): void {
    if (this.#timer !== undefined) return;
    const oldest = this.#open.find((t) => !t.over);
    if (oldest === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#give();
    }, Math.max(0, oldest.until - performance.now()) + 1);
    this.#timer.unref();
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
 * room and nobody waits. Without a transport (not an ssh2 connection), at once. The
 * caller calls the turn's `done()` once its socket has read, ended, or no longer will.
 */
export function whenTransportRoom(client: unknown, go: (turn: Turn) => void): void {
  const turns = turnsOf(client);
  if (turns === undefined) go(FREE);
  else turns.request(go);
}

/**
 * Takes a turn on the transport of `client` if one is free now (read now; `done()` as
 * above), without waiting in line for one (false: nothing taken; ask
 * `whenTransportRoom`). Without a transport, a turn that holds nothing.
 */
export function takeTransportTurn(client: unknown): Turn | false {
  return turnsOf(client)?.take() ?? FREE;
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
