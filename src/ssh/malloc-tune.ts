/**
 * Loads `native/malloc-tune.c` (built by `npm ci` when a compiler is present) and
 * tells glibc to keep freed buffer memory for reuse instead of returning it to the
 * kernel page by page. Optional: without the addon burrow works the same, only with
 * more page faults per byte moved. Runs once per process.
 */
import { createRequire } from 'node:module';

let state: boolean | undefined;

/** True when the allocator was tuned (glibc and the addon present). */
export function tuneAllocator(): boolean {
  if (state !== undefined) return state;
  try {
    const addon = createRequire(import.meta.url)('../../native/build/Release/malloc_tune.node') as { tune(): boolean };
    state = addon.tune();
  } catch {
    state = false;
  }
  return state;
}
