/**
 * V8 without its helper threads: `bin/burrow.js`'s `#!` line starts node with
 * `--single-threaded`, so V8 compiles optimized code and collects garbage on the main
 * thread instead of handing that work to helper threads.
 *
 * A tunnel shares its machine with the programs at both ends of it (and, on a laptop
 * running a local server, with sshd's side too). There, V8's compiler thread competes for
 * the same cores as the traffic, and an optimized function arrives later than if the main
 * thread had compiled it: on this 2-core machine, a fresh process's first 500 forwarded
 * connections cost ~15 % less CPU each and answered ~20 % sooner without the helper threads,
 * in five interleaved runs, with bulk transfers alike (bench/HISTORY.md, session 41). The
 * flag can only be given when node starts (setting it later crashes V8's collector), and it
 * costs `burrow --help` ~10 ms: node then compiles its own WebAssembly at start on the main
 * thread.
 *
 * `node bin/burrow.js` runs without it, as before; `burrow --version -v` says which.
 */

/** The flag the `#!` line gives node. */
export const SINGLE_THREADED = '--single-threaded';

/** True when node was started with the `#!` line's flag (the way `burrow` runs). */
export function singleThreaded(): boolean {
  return process.execArgv.includes(SINGLE_THREADED);
}
