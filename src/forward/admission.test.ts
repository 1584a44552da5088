import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from './admission.js';

test('admits at once while under max; past it, waiters start in order as slots free', () => {
  let busy = 0;
  const a = new Admission({ max: 2, idleMs: 50, busy: () => busy, now: () => 0 });
  const started: number[] = [];
  const start = (n: number) => () => {
    busy++;
    started.push(n);
  };
  for (let i = 1; i <= 5; i++) a.admit(start(i), () => false);
  assert.deepEqual(started, [1, 2]);
  assert.equal(a.waiting, 3);
  busy--; // one finished
  a.kick();
  assert.deepEqual(started, [1, 2, 3]);
  busy -= 2;
  a.kick();
  assert.deepEqual(started, [1, 2, 3, 4, 5]);
  assert.equal(a.waiting, 0);
  a.dispose();
});

test('a waiter whose connection is gone is skipped, and dispose drops the rest', () => {
  let busy = 1;
  const a = new Admission({ max: 1, idleMs: 50, busy: () => busy, now: () => 0 });
  const started: string[] = [];
  a.admit(() => started.push('gone'), () => true);
  a.admit(() => started.push('next'), () => false);
  a.admit(() => started.push('dropped'), () => false);
  busy = 0;
  a.kick();
  assert.deepEqual(started, ['next']);
  a.dispose();
  assert.equal(a.waiting, 0);
  a.kick();
  assert.deepEqual(started, ['next']);
});

test('channels going quiet free slots without any event (the timer looks again)', async () => {
  let busy = 1;
  const a = new Admission({ max: 1, idleMs: 20, busy: () => busy });
  const started = new Promise<void>((resolve) => a.admit(resolve, () => false));
  assert.equal(a.waiting, 1);
  busy = 0; // the busy channel went idle: nothing calls kick()
  // The admission timer is unref'd (the waiting sockets keep a real process alive).
  const alive = setInterval(() => {}, 1000);
  await started;
  clearInterval(alive);
  assert.equal(a.waiting, 0);
  a.dispose();
});

test('nobody waits forever: with every slot busy, one waiter starts per leakMs', () => {
  let clock = 0;
  const busy = 3; // three endless transfers
  const a = new Admission({ max: 3, idleMs: 50, busy: () => busy, leakMs: 100, now: () => clock });
  const started: number[] = [];
  for (let i = 1; i <= 3; i++) a.admit(() => started.push(i), () => false);
  assert.deepEqual(started, []);
  clock = 99;
  a.kick();
  assert.deepEqual(started, []);
  clock = 100;
  a.kick();
  a.kick(); // the same instant: still one
  assert.deepEqual(started, [1]);
  clock = 200;
  a.kick();
  assert.deepEqual(started, [1, 2]);
  a.dispose();
});
