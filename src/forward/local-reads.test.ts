/**
 * Read slots (local-reads.ts) are a budget shared by the process: at most `MAX_SWITCHED`
 * sockets read into buffers of their own at once, and one that closes makes room.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { MAX_SWITCHED, readIntoSlots, slotCounters } from './local-reads.js';

test('at most MAX_SWITCHED sockets read into slots at once; one that closes makes room', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s: net.Socket) => accepted.push(s));
  const n = MAX_SWITCHED + 2;
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = net.connect({ port, host: '127.0.0.1' });
      await once(c, 'connect');
      return c;
    }),
  );
  while (accepted.length < n) await once(server, 'connection');
  try {
    const switched = accepted.map((s) => readIntoSlots(s, () => true));
    assert.equal(switched.filter(Boolean).length, MAX_SWITCHED);
    assert.equal(slotCounters.switched, MAX_SWITCHED);
    const waiting = accepted[switched.indexOf(false)] as net.Socket;
    assert.equal(readIntoSlots(waiting, () => true), false, 'no room while all slots are taken');

    const first = accepted[switched.indexOf(true)] as net.Socket;
    first.destroy();
    await once(first, 'close');
    assert.equal(slotCounters.switched, MAX_SWITCHED - 1);
    assert.equal(readIntoSlots(waiting, () => true), true, 'a closed socket made room');
  } finally {
    for (const s of [...accepted, ...clients]) s.destroy();
    server.close();
  }
});
