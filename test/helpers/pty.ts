// A small driver for programs that need a terminal (ssh asking for a password and a
// one-time code): run a command in a pseudo-terminal, wait for text, type answers, read
// the transcript, get the exit code.
import * as nodePty from 'node-pty';

export interface PtyExit {
  code: number;
  signal?: number;
}

export interface PtyOptions {
  env?: Record<string, string>;
  cwd?: string;
  cols?: number;
  rows?: number;
  /** Default timeout of waitFor() in ms. */
  timeoutMs?: number;
}

export class PtyTimeout extends Error {
  constructor(
    readonly waitingFor: string,
    readonly transcript: string,
  ) {
    super(`pty: timed out waiting for ${JSON.stringify(waitingFor)}; transcript so far:\n${transcript}`);
    this.name = 'PtyTimeout';
  }
}

/** Removes ANSI escape sequences and carriage returns, for matching and for reading. */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\x1b[()][A-Z0-9]/g, '').replace(/\r/g, '');
}

export class Pty {
  private readonly term: nodePty.IPty;
  private raw = '';
  /** Offset in plain(transcript) up to which waitFor() has consumed matches. */
  private cursor = 0;
  private readonly waiters = new Set<() => void>();
  private exitInfo: PtyExit | undefined;
  readonly exited: Promise<PtyExit>;
  readonly timeoutMs: number;

  constructor(file: string, args: readonly string[], opts: PtyOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.term = nodePty.spawn(file, [...args], {
      name: 'xterm',
      cols: opts.cols ?? 160,
      rows: opts.rows ?? 50,
      cwd: opts.cwd ?? '/',
      env: opts.env ?? (process.env as Record<string, string>),
    });
    this.term.onData((d) => {
      this.raw += d;
      for (const w of [...this.waiters]) w();
    });
    this.exited = new Promise<PtyExit>((resolve) => {
      this.term.onExit(({ exitCode, signal }) => {
        this.exitInfo = signal ? { code: exitCode, signal } : { code: exitCode };
        // Let the last output arrive before waking waiters.
        setTimeout(() => {
          for (const w of [...this.waiters]) w();
          resolve(this.exitInfo as PtyExit);
        }, 50);
      });
    });
  }

  get pid(): number {
    return this.term.pid;
  }

  /** Everything the program printed so far, escape sequences removed. */
  get transcript(): string {
    return plain(this.raw);
  }

  /** The raw output, escape sequences included. */
  get rawTranscript(): string {
    return this.raw;
  }

  get exitCode(): number | undefined {
    return this.exitInfo?.code;
  }

  /**
   * Waits until `text` (a substring, or a RegExp) appears after the previous match, and
   * returns the transcript up to and including it. Rejects on timeout or when the program
   * exits without printing it.
   */
  waitFor(text: string | RegExp, timeoutMs = this.timeoutMs): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const check = (): boolean => {
        const t = this.transcript;
        const rest = t.slice(this.cursor);
        let end = -1;
        if (typeof text === 'string') {
          const i = rest.indexOf(text);
          if (i >= 0) end = i + text.length;
        } else {
          const m = text.exec(rest);
          if (m) end = m.index + m[0].length;
        }
        if (end >= 0) {
          const upto = t.slice(0, this.cursor + end);
          this.cursor += end;
          done();
          resolve(upto);
          return true;
        }
        if (this.exitInfo) {
          done();
          reject(new Error(`pty: program exited (${JSON.stringify(this.exitInfo)}) before printing ${String(text)}; transcript:\n${t}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new PtyTimeout(String(text), this.transcript));
      }, timeoutMs);
      const waiter = (): void => {
        check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      check();
    });
  }

  /** Types text as is. */
  write(text: string): void {
    this.term.write(text);
  }

  /** Types a line (text + Enter). */
  type(line: string): void {
    this.term.write(`${line}\r`);
  }

  /** Waits for a prompt, then types the answer. */
  async answer(prompt: string | RegExp, reply: string, timeoutMs?: number): Promise<void> {
    await this.waitFor(prompt, timeoutMs);
    this.type(reply);
  }

  /** Waits for the program to end, killing it after timeoutMs. */
  async wait(timeoutMs = this.timeoutMs): Promise<PtyExit> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, t]);
    if (timer) clearTimeout(timer);
    if (r === 'timeout') {
      this.kill('SIGKILL');
      throw new PtyTimeout('exit', this.transcript);
    }
    return r;
  }

  /** Sends a signal to the program (default SIGHUP, like closing the terminal). */
  kill(signal: NodeJS.Signals = 'SIGHUP'): void {
    if (this.exitInfo) return;
    try {
      this.term.kill(signal);
    } catch {
      // already gone
    }
  }

  /** Ends the program and waits for it (SIGKILL after a grace period). */
  async close(graceMs = 1000): Promise<PtyExit> {
    if (this.exitInfo) return this.exitInfo;
    this.kill('SIGHUP');
    const t = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs));
    const r = await Promise.race([this.exited, t]);
    if (r !== 'timeout') return r;
    this.kill('SIGKILL');
    return this.exited;
  }
}

/** Runs a program in a pseudo-terminal. */
export function spawnPty(file: string, args: readonly string[], opts: PtyOptions = {}): Pty {
  return new Pty(file, args, opts);
}
