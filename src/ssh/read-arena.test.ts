import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { ReadArena, arenaCounters } from './read-arena.js';
import { tuneAllocator } from './malloc-tune.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('bytes read through the arena arrive intact and in order, also those read before anyone listens', async () => {
  const greeting = Buffer.from('SSH-2.0-test\r\n');
  const body = randomBytes(9 * 1024 * 1024 + 123); // several arenas, reads of every size
  const server = net.createServer((c) => {
    c.write(greeting); // arrives before the 'data' listener below is attached
    setTimeout(() => c.end(body), 50);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  try {
    const arena = new ReadArena();
    const socket = net.connect({ host: '127.0.0.1', port, onread: arena.onread });
    arena.attach(socket);
    await new Promise((r) => socket.once('connect', r));
    await new Promise((r) => setTimeout(r, 20)); // the greeting is read and held
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    await new Promise((r) => socket.once('end', r));
    socket.destroy();
    const got = Buffer.concat(chunks);
    assert.equal(got.length, greeting.length + body.length);
    assert.equal(sha(got), sha(Buffer.concat([greeting, body])));
  } finally {
    server.close();
  }
});

/** Streams `body` through an arena to a consumer; returns what it kept and how the arenas went. */
async function throughArena(body: Buffer, keep: (arena: ReadArena, c: Buffer) => Buffer): Promise<{ got: Buffer; reused: number; dropped: number }> {
  const server = net.createServer((c) => c.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const before = { ...arenaCounters };
  try {
    const arena = new ReadArena();
    const socket = net.connect({ host: '127.0.0.1', port, onread: arena.onread });
    arena.attach(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(keep(arena, c)));
    await new Promise((r) => socket.once('end', r));
    socket.destroy();
    return { got: Buffer.concat(chunks), reused: arenaCounters.reused - before.reused, dropped: arenaCounters.dropped - before.dropped };
  } finally {
    server.close();
  }
}

test('an arena whose views are kept is never reused: kept views stay intact', async () => {
  const body = randomBytes(12 * 1024 * 1024 + 77);
  // Keeps the views themselves, as ssh2 does with payloads it pushes to a stream, and says so.
  const r = await throughArena(body, (arena, c) => {
    arena.retain(c);
    return c;
  });
  assert.equal(sha(r.got), sha(body));
  assert.equal(r.reused, 0);
  assert.ok(r.dropped > 0);
});

test('an arena nobody kept a view of is reused: the memory turns over, the bytes are right', async () => {
  const body = randomBytes(12 * 1024 * 1024 + 77);
  const r = await throughArena(body, (_arena, c) => Buffer.from(c)); // copies: nothing kept
  assert.equal(sha(r.got), sha(body));
  assert.ok(r.reused > 0, `reused ${r.reused}`);
  // Only the first arena (the handshake's) is never reused.
  assert.ok(r.dropped <= 1, `dropped ${r.dropped}`);
});

test('the allocator tuning addon is built and applies on glibc Linux', { skip: process.platform !== 'linux' }, () => {
  // `npm ci` builds native/malloc-tune.c; CI installs the compiler, so this must hold there.
  assert.equal(tuneAllocator(), true);
});
