/**
 * Admission of new channels while many channels are moving data at once.
 *
 * OpenSSH's sshd (9.2 measured) pays per output round for every channel with data
 * ready, and its cost grows with the square of how many do: on loopback, 200
 * concurrent 1 MiB downloads cost sshd 1.6 CPU-s, 400 cost 20 CPU-s, and 1000 stalled
 * it at 100 % CPU sending nothing for over 45 s (memmove into fresh memory, RSS past
 * 300 MB). OpenSSH's own client escapes only by overflowing its accept queue (clients
 * wait for SYN retries: ~110 s for the same 1000). So past `max` busy channels a new
 * connection stays accepted but waits here for its channel until one finishes or goes
 * quiet. Idle connections (pools, keep-alive) do not count: only a channel that moved
 * data within the last `idleMs`, or is still opening, is busy.
 *
 * The limit is soft, so that nobody waits forever behind long transfers (40 video
 * streams through -D, say): while connections wait and no slot frees, one of them is
 * let through past the limit every `leakMs`.
 */
export interface AdmissionOptions {
  /** Busy channels allowed at once. */
  max: number;
  /** How long without data before a channel no longer counts as busy (ms). */
  idleMs: number;
  /** Counts the busy channels now. */
  busy: () => number;
  /** With waiters and no free slot, one is started anyway this often (ms). Default 250. */
  leakMs?: number;
  /** The clock (ms), for tests. */
  now?: () => number;
}

interface Waiter {
  start: () => void;
  gone: () => boolean;
}

export class Admission {
  readonly #opts: AdmissionOptions;
  readonly #queue: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastStart = 0;

  constructor(opts: AdmissionOptions) {
    this.#opts = opts;
  }

  /** Connections waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs `start` now if a slot is free, else once one is (in arrival order). */
  admit(start: () => void, gone: () => boolean): void {
    if (this.#queue.length === 0 && this.#opts.busy() < this.#opts.max) {
      this.#lastStart = this.#now();
      return start();
    }
    this.#queue.push({ start, gone });
    // Channels going quiet free slots without any event: look again every so often.
    this.#timer ??= setInterval(() => this.kick(), Math.max(10, this.#opts.idleMs / 2)).unref();
  }

  /** A slot may have freed (a connection ended): starts waiters while there is room. */
  kick(): void {
    const now = this.#now();
    let room = this.#opts.max - this.#opts.busy();
    // Starvation bound: no slot freed for leakMs, one waiter goes anyway.
    if (room <= 0 && now - this.#lastStart >= (this.#opts.leakMs ?? 250)) room = 1;
    while (this.#queue.length > 0 && room > 0) {
      const w = this.#queue.shift() as Waiter;
      if (w.gone()) continue;
      room--;
      this.#lastStart = now;
      w.start();
    }
    if (this.#queue.length === 0) this.#stopTimer();
  }

  /** Drops every waiter (their connections are cut by their owner) and the timer. */
  dispose(): void {
    this.#queue.length = 0;
    this.#stopTimer();
  }

  #now(): number {
    return this.#opts.now ? this.#opts.now() : Date.now();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
