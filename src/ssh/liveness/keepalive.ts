/**
 * Liveness of one SSH connection, as ServerAliveInterval/ServerAliveCountMax mean it,
 * with one difference from ssh2's own keepalive: any byte received counts as a sign of
 * life, so a busy link (a bulk download) is never declared dead. When nothing arrives
 * for an interval, a keepalive request is sent; after `countMax` silent intervals the
 * link is dead. A clock jump (the laptop slept, the process was stopped) triggers an
 * immediate probe with a short deadline, so traffic flows again within seconds of resume.
 */
import type { Readable } from 'node:stream';

export interface KeepaliveOptions {
  /** Seconds between checks (ServerAliveInterval). */
  interval: number;
  /** Silent intervals tolerated (ServerAliveCountMax). */
  countMax: number;
  /** Sends a request that the server must answer (keepalive@openssh.com). */
  probe: () => void;
  /** Called once when the link is judged dead. */
  onDead: (reason: string) => void;
  /** Seconds to wait for an answer after a clock jump; default 5. */
  resumeDeadline?: number;
}

export class Keepalive {
  readonly #opts: KeepaliveOptions;
  #received = false;
  #missed = 0;
  #lastTick = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;
  #dead = false;
  readonly #onData = () => {
    this.#received = true;
    this.#missed = 0;
  };
  readonly #source: Readable;

  constructor(source: Readable, opts: KeepaliveOptions) {
    this.#opts = opts;
    this.#source = source;
    source.on('data', this.#onData);
    const ms = Math.max(1, opts.interval) * 1000;
    // Tick faster than the interval so a clock jump is noticed soon after resume.
    const tick = Math.min(ms, 1000);
    let elapsed = 0;
    this.#timer = setInterval(() => {
      const now = Date.now();
      const gap = now - this.#lastTick;
      this.#lastTick = now;
      if (gap > tick * 3 + 2000) return this.#resumed(gap);
      elapsed += gap;
      if (elapsed < ms) return;
      elapsed = 0;
      this.#check();
    }, tick);
    this.#timer.unref();
  }

  #check(): void {
    if (this.#received) {
      this.#received = false;
      return;
    }
    this.#missed++;
    if (this.#missed > this.#opts.countMax) {
      return this.#die(`no answer from the server for ${this.#opts.interval * this.#opts.countMax}s (ServerAliveInterval ${this.#opts.interval} × ServerAliveCountMax ${this.#opts.countMax})`);
    }
    this.#opts.probe();
  }

  #resumed(gapMs: number): void {
    this.probeNow(`after a ${Math.round(gapMs / 1000)}s pause (sleep or stop)`);
  }

  /**
   * Asks the server for a sign of life now, with a short deadline: after a resume, or
   * when the network changed under the connection (a new Wi-Fi, a VPN).
   */
  probeNow(why: string): void {
    if (this.#dead) return;
    this.#received = false;
    this.#opts.probe();
    clearTimeout(this.#resumeTimer);
    const deadline = (this.#opts.resumeDeadline ?? 5) * 1000;
    this.#resumeTimer = setTimeout(() => {
      if (!this.#received) this.#die(`no answer from the server within ${deadline / 1000}s ${why}`);
    }, deadline);
    this.#resumeTimer.unref();
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.dispose();
    this.#opts.onDead(reason);
  }

  dispose(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#resumeTimer);
    this.#source.off('data', this.#onData);
  }
}
