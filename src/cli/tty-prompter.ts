/**
 * Asks on the controlling terminal, like ssh: prompts go to /dev/tty (so they show
 * even when stdout is piped), secrets are read with echo off. Nothing asked or
 * answered is logged or stored.
 */
import { openSync, closeSync } from 'node:fs';
import tty from 'node:tty';
import { BurrowError } from '../errors.js';
import type { Prompter } from '../prompt.js';

/** A prompter on /dev/tty, or undefined when there is no terminal (cron, CI, a pipe). */
export function openTtyPrompter(): Prompter | undefined {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  if (!tty.isatty(fd)) {
    closeSync(fd);
    return undefined;
  }
  const output = new tty.WriteStream(fd);
  output.on('error', () => {});
  // The terminal must never be what keeps the process alive (e.g. after a failed login).
  output.unref();
  let input: tty.ReadStream | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const prompter: Prompter = {
    info(message) {
      output.write(message.endsWith('\n') ? message : `${message}\n`);
    },
    ask(message, opts) {
      // One question at a time (two hops may ask at once).
      const next = queue.then(() => {
        input ??= new tty.ReadStream(fd);
        input.on('error', () => {});
        return readLine(input, output, message, opts.echo, opts.signal);
      });
      queue = next.catch(() => {});
      return next;
    },
  };
  return prompter;
}

function readLine(input: tty.ReadStream, output: tty.WriteStream, message: string, echo: boolean, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    input.setRawMode(true);
    input.ref();
    output.write(message);
    let line = '';
    const done = (err?: BurrowError) => {
      input.setRawMode(false);
      input.removeAllListeners('data');
      input.pause();
      input.unref();
      signal?.removeEventListener('abort', onAbort);
      output.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onAbort = () => done(new BurrowError('ABORTED', 'prompt cancelled', { phase: 'auth' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    input.on('data', (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new BurrowError('ABORTED', 'interrupted', { phase: 'auth' }));
        if (ch === '\u0004' && line === '') return done(new BurrowError('ABORTED', 'end of input at a prompt', { phase: 'auth' }));
        if (ch === '\u007f' || ch === '\b') {
          if (line.length > 0) {
            line = line.slice(0, -1);
            if (echo) output.write('\b \b');
          }
          continue;
        }
        if (ch === '\u0015') {
          if (echo) output.write('\b \b'.repeat(line.length));
          line = '';
          continue;
        }
        line += ch;
        if (echo) output.write(ch);
      }
    });
    input.resume();
  });
}
