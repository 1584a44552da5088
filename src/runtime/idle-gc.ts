/**
 * Garbage collection when the process is idle, in place of V8's memory reducer.
 *
 * After each full collection V8 schedules its memory reducer: 8 s later, if JavaScript
 * allocates little, it runs up to three more full collections to give memory back. In
 * burrow JavaScript allocates little exactly while native code moves data (the receive
 * loop, the upload pump, the sinks), so the reducer ran in the middle of transfers: two
 * or three collections ~8 s after start and after every burst, ~25 ms of CPU and pauses
 * of the event loop (bench/HISTORY.md, sessions 36–37).
 *
 * Here V8's reducer never comes due, and burrow collects itself once a whole check
 * interval passed with the process nearly idle (its CPU time, every thread counted: the
 * native loops included) and the heap has grown since the last collection (or since the
 * start: the first idle interval gives back what starting up left).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** How often the process's CPU time and heap are looked at. */
const INTERVAL_MS = 5_000;
/** An interval counts as idle below this share of one core (25 ms in 5 s). */
const IDLE_SHARE = 0.005;
/** Heap growth (committed bytes) since the last collection worth a collection. */
const GROWN = 4 * 1024 * 1024;
/** V8's reducer starts this long after a full collection: never, in practice (~24 days). */
const NEVER_MS = 2 ** 31 - 1;

/** One interval's decision: idle (CPU below the share) and the heap grown past the baseline. */
export function shouldCollect(cpuMs: number, intervalMs: number, heapBytes: number, baseline: number): boolean {
  return cpuMs < intervalMs * IDLE_SHARE && heapBytes > baseline + GROWN;
}

/**
 * A full collection on demand: `gc`, as `--expose-gc` would define it, taken from a
 * context of its own (the flag set only while that context is made), so that nothing
 * else sees it. Undefined if this V8 does not offer it.
 */
export function gcFunction(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

let started = false;

/**
 * Moves the process's memory reducing to its idle times. Call once, early (V8 reads the
 * reducer's delay when a collection schedules it). The check's timer does not keep the
 * process alive.
 */
export function collectWhenIdle(): void {
  if (started) return;
  started = true;
  v8.setFlagsFromString(`--gc-memory-reducer-start-delay-ms=${NEVER_MS}`);
  let gc: (() => void) | undefined | null = null;
  let baseline = 0;
  let last = process.cpuUsage();
  const timer = setInterval(() => {
    const now = process.cpuUsage();
    const cpuMs = (now.user - last.user + now.system - last.system) / 1000;
    last = now;
    if (!shouldCollect(cpuMs, INTERVAL_MS, v8.getHeapStatistics().total_heap_size, baseline)) return;
    if (gc === null) gc = gcFunction();
    if (gc === undefined) return;
    gc();
    baseline = v8.getHeapStatistics().total_heap_size;
    // The collection's own CPU is not the next interval's traffic.
    last = process.cpuUsage();
  }, INTERVAL_MS);
  timer.unref();
}
