/**
 * Reconnect delays: the first retry at once, then exponential with jitter, capped;
 * back to the start after the connection has been stable for a while.
 */
export interface BackoffOptions {
  initialMs?: number; // default 500
  maxMs?: number; // default 30000
  /** ± fraction of randomness; default 0.2. */
  jitter?: number;
  /**
   * A connection that lasted this long resets the sequence, so the next loss is retried
   * at once; one that dies sooner (a flapping server) keeps backing off. Default 10000.
   */
  stableMs?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #jitter: number;
  readonly stableMs: number;
  #attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = opts.initialMs ?? 500;
    this.#max = opts.maxMs ?? 30_000;
    this.#jitter = opts.jitter ?? 0.2;
    this.stableMs = opts.stableMs ?? 10_000;
  }

  /** The delay before the next attempt (0 for the first). */
  next(): number {
    const n = this.#attempt++;
    if (n === 0) return 0;
    const base = Math.min(this.#max, this.#initial * 2 ** (n - 1));
    const spread = base * this.#jitter;
    return Math.round(Math.min(this.#max, base - spread + Math.random() * 2 * spread));
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
