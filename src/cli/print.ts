/**
 * Output of the commands that print and end (`--help`, `--version`, a usage error, the
 * final error line): written straight to the file descriptor. `process.stdout` and
 * `process.stderr` are streams, and making the first of them loads node's stream modules,
 * ~13 ms of such a command's start, since under `--single-threaded` node compiles its own
 * modules from source (src/runtime/v8-threads.ts; bench/HISTORY.md, session 42). `node:fs`
 * is taken with `require`: its ES-module face loads `fs/promises`, readline and the
 * streams as well.
 */
import { createRequire } from 'node:module';
import { BurrowError } from '../errors.js';

const { writeSync } = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

/**
 * Writes all of `text` to fd 1 or 2, now. A reader that went away (EPIPE) ends it
 * quietly; any other failure (a full disk) is an OUTPUT_FAILED error.
 */
export function printNow(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text);
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') {
      const what = fd === 1 ? 'standard output' : 'standard error';
      throw new BurrowError('OUTPUT_FAILED', `cannot write to ${what}: ${(e as Error).message}`, { cause: e });
    }
    // A non-blocking descriptor (set so by whoever shares it): the stream waits for it.
    (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(done));
  }
}
