import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TRANSPORT_HIGH_WATER, takeTransportTurn, turnHold, whenTransportRoom, type Turn } from './transport-turns.js';
import { fakeTransport, type FakeTransport } from '../../test/helpers/transport-channel.js';

/** An ssh2 Client as the turns see it: its transport's unsent bytes, 'drain' and 'close'. */
function client(unsent: number): { _sock: FakeTransport } {
  return { _sock: fakeTransport(unsent) };
}

/** A socket given its turn that reads at once (its peer had sent): `f`, then the turn is done. */
function reads(f: () => void): (turn: Turn) => void {
  return (turn) => {
    f();
    turn.done();
  };
}

/** A turn taken now, or none. */
function take(c: unknown): Turn | undefined {
  return takeTransportTurn(c) || undefined;
}

test('a transport with room and nobody in line gives the turn at once', () => {
  const c = client(TRANSPORT_HIGH_WATER);
  let went = false;
  whenTransportRoom(c, () => (went = true));
  assert.equal(went, true);
});

test('a stream that is no ssh2 channel goes at once', () => {
  let went = 0;
  whenTransportRoom(undefined, () => went++);
  whenTransportRoom({}, () => went++);
  assert.equal(went, 2);
});

test('a congested transport: a few go ahead, the rest wait for its drain, first come, first served', async () => {
  const c = client(TRANSPORT_HIGH_WATER + 1);
  const went: number[] = [];
  for (let i = 0; i < 40; i++) whenTransportRoom(c, reads(() => went.push(i)));
  // As many as would fill it once more (16 reads of 64 KiB) go at once, to be ready.
  assert.deepEqual(went, [...Array(16).keys()]);
  await tick();
  await tick();
  assert.equal(went.length, 16);
  // Room for 16 more at the drain...
  c._sock.writableLength = 0;
  c._sock.emit('drain');
  assert.deepEqual(went, [...Array(32).keys()]);
  // ... and while others wait, a newcomer queues behind them, even with room.
  whenTransportRoom(c, reads(() => went.push(40)));
  assert.equal(went.length, 32);
  for (let i = 0; i < 5 && went.length < 41; i++) await tick();
  assert.deepEqual(went, [...Array(41).keys()]);
});

test('no more than 16 turns between two drains while the transport stays congested', async () => {
  const c = client(TRANSPORT_HIGH_WATER * 2);
  let went = 0;
  for (let i = 0; i < 100; i++) whenTransportRoom(c, reads(() => went++));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(went, 16);
  c._sock.emit('drain'); // drained, and at once congested again by what was waiting
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(went, 32);
});

test('a transport that closes lets everyone in line go (their channels end with it)', async () => {
  const c = client(TRANSPORT_HIGH_WATER * 4);
  let went = 0;
  for (let i = 0; i < 100; i++) whenTransportRoom(c, reads(() => went++));
  await tick();
  assert.equal(went, 16);
  c._sock.emit('close');
  assert.equal(went, 100);
  whenTransportRoom(c, () => went++);
  assert.equal(went, 101);
});

test('a long line through many drains: everyone goes once, in order', async () => {
  const c = client(TRANSPORT_HIGH_WATER * 2);
  const went: number[] = [];
  for (let i = 0; i < 5000; i++) whenTransportRoom(c, reads(() => went.push(i)));
  // Each drain with the transport congested again at once: 16 turns a round.
  for (let round = 0; round < 400 && went.length < 5000; round++) {
    c._sock.emit('drain');
    await tick();
  }
  assert.equal(went.length, 5000);
  assert.ok(went.every((v, i) => v === i), 'out of order');
});

test('a turn taken now counts as one given, and none is taken while others wait', () => {
  assert.ok(take(undefined), 'no transport: read now');
  const c = client(TRANSPORT_HIGH_WATER + 1);
  // Congested: the 16 turns ahead, shared with those who wait for one.
  for (let i = 0; i < 10; i++) take(c)?.done(); // each reads at once
  const went: number[] = [];
  for (let i = 0; i < 8; i++) whenTransportRoom(c, reads(() => went.push(i)));
  assert.deepEqual(went, [...Array(6).keys()]);
  // Nothing left ahead, and two in line: no turn now, and nobody was let in by asking.
  assert.equal(take(c), undefined);
  assert.equal(went.length, 6);
  c._sock.writableLength = 0;
  c._sock.emit('drain');
  assert.equal(went.length, 8);
  assert.ok(take(c), 'room again and nobody waits');
});

test('turns given on an empty transport hold its room until their sockets read: the next waits', async () => {
  const hold = turnHold.ms;
  turnHold.ms = 60_000; // no turn stops holding room in this test
  try {
    const c = client(0);
    // Room for 16 reads of 64 KiB: 16 sockets whose peers have not sent yet.
    const given: Turn[] = [];
    for (let i = 0; i < 16; i++) given.push(take(c) as Turn);
    assert.ok(given.every(Boolean));
    assert.equal(take(c), undefined, 'the room is held');
    let went = 0;
    whenTransportRoom(c, () => went++);
    whenTransportRoom(c, () => went++);
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(went, 0, 'a turn given before any read came');
    given[0]?.done(); // one read, and the transport took it at once
    for (let i = 0; i < 5 && went === 0; i++) await tick();
    assert.equal(went, 1);
    given[0]?.done(); // twice: nothing more
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(went, 1);
    given[1]?.done();
    for (let i = 0; i < 5 && went === 1; i++) await tick();
    assert.equal(went, 2);
  } finally {
    turnHold.ms = hold;
  }
});

test('turns given with room, read once it is congested, count as its reads ahead', () => {
  const hold = turnHold.ms;
  turnHold.ms = 60_000;
  try {
    const c = client(0);
    const given: Turn[] = [];
    for (let i = 0; i < 10; i++) given.push(take(c) as Turn);
    c._sock.writableLength = 2 * TRANSPORT_HIGH_WATER; // congested by others
    // Ten reads to come: six turns left ahead of the drain.
    let went = 0;
    for (let i = 0; i < 6; i++) assert.ok(take(c), `turn ${i} ahead`);
    assert.equal(take(c), undefined);
    // The ten read into it: still none.
    for (const t of given) t.done();
    assert.equal(take(c), undefined);
    // The drain: 16 again (the six ahead not read yet hold room too).
    c._sock.writableLength = 0;
    c._sock.emit('drain');
    whenTransportRoom(c, () => went++);
    assert.equal(went, 1);
  } finally {
    turnHold.ms = hold;
  }
});

test('a turn whose socket stays silent stops holding room, and the line moves on', async () => {
  const c = client(0);
  for (let i = 0; i < 16; i++) take(c);
  let went = false;
  whenTransportRoom(c, () => (went = true));
  // No read ever comes (clients that wait for their server to speak first).
  for (let i = 0; i < 1000 && !went; i++) await sleep(5);
  assert.equal(went, true);
});
