import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { gcFunction, shouldCollect } from './idle-gc.js';

const MiB = 1024 * 1024;

test('collects only after an idle interval, and only when the heap has grown', () => {
  // 5 s intervals: idle is below 25 ms of CPU.
  assert.equal(shouldCollect(10, 5000, 40 * MiB, 20 * MiB), true, 'idle, heap grown by 20 MiB');
  assert.equal(shouldCollect(30, 5000, 40 * MiB, 20 * MiB), false, 'busy: 30 ms of CPU in 5 s (a slow transfer)');
  assert.equal(shouldCollect(10, 5000, 22 * MiB, 20 * MiB), false, 'idle, heap grown by only 2 MiB');
  assert.equal(shouldCollect(0, 5000, 12 * MiB, 0), true, 'the first idle interval after start');
});

test('gcFunction makes a full collection, without exposing gc to anything else', async () => {
  const gc = gcFunction();
  assert.equal(typeof gc, 'function');
  const majors: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    gc!();
    // GC entries are delivered asynchronously.
    for (let i = 0; i < 100 && majors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(majors.length > 0, 'a major collection was observed');
  } finally {
    obs.disconnect();
  }
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(vm.runInNewContext('typeof gc'), 'undefined', 'contexts made afterwards have no gc');
});
