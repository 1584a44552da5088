import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { onAbort } from './lifecycle.js';

test('onAbort: each watcher runs once on abort, a forgotten one never, all through one listener', () => {
  const ac = new AbortController();
  const ran: string[] = [];
  onAbort(ac.signal, () => ran.push('a'));
  const forgetB = onAbort(ac.signal, () => ran.push('b'));
  onAbort(ac.signal, () => ran.push('c'));
  for (let i = 0; i < 100; i++) onAbort(ac.signal, () => {})();
  assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
  forgetB();
  ac.abort();
  ac.abort();
  assert.deepEqual(ran, ['a', 'c']);
});

test('onAbort on a signal already aborted runs at once', () => {
  let ran = 0;
  const forget = onAbort(AbortSignal.abort(), () => ran++);
  forget();
  assert.equal(ran, 1);
});
