/**
 * V8 without its helper threads: `bin/burrow.js`'s `#!` line starts node with
 * `--single-threaded`, so V8 compiles optimized code and collects garbage on the main
 * thread instead of handing that work to helper threads.
 *
 * Measured on a 2-core machine shared by the forwarder, the programs at both ends and sshd:
 * a fresh process's first 500 forwarded connections cost ~10 % less CPU each and were
 * answered ~20 % sooner without the helper threads, in each of six interleaved runs, with
 * bulk transfers alike; a run of 1000-connection blocks showed no difference
 * (bench/HISTORY.md, session 41). Likely reason: there, V8's compiler
 * thread waits for a core that the traffic is using, and code stays in its slower tiers
 * until the optimized version arrives. The flag can only be given when node starts
 * (setting it later crashed V8's collector). It costs start-up: V8 then rejects the code
 * cache node carries for its own modules (its flags differ from the ones the cache was made
 * with: `internalBinding('builtins').getCacheUsage()` counts 30 of 30 of `node:v8`'s modules
 * compiled without the cache), so each node module loaded after start is compiled from
 * source. `burrow --help` therefore loads few of them: `bin/burrow.js` is CommonJS and
 * `require()`s the CLI, the idle collector (`node:v8`, which brings `node:stream`) starts
 * only for the commands that run, and `src/cli/print.ts` writes without `process.stdout`.
 *
 * `node bin/burrow.js` runs without it, as before; `burrow --version -v` says which.
 */

/** The flag the `#!` line gives node. */
export const SINGLE_THREADED = '--single-threaded';

/** True when node was started with the `#!` line's flag (the way `burrow` runs). */
export function singleThreaded(): boolean {
  return process.execArgv.includes(SINGLE_THREADED);
}
