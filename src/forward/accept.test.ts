import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptWithSharedMaps } from './accept.js';
import { closeServer, listenTcp, listenUnix } from './listen.js';
import { SOCKET_HIGH_WATER_MARK } from './pipe.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Echoes what the client sent once the client has ended its side (a half-close). */
function echoAfterEnd(s: net.Socket): void {
  const parts: Buffer[] = [];
  s.on('error', () => {}); // a client cut off by the test
  s.on('data', (d: Buffer) => parts.push(d));
  s.on('end', () => s.end(Buffer.concat(parts)));
}

/** Sends `data`, ends, and resolves with everything read until the server's end. */
function roundTrip(connect: () => net.Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect();
    const parts: Buffer[] = [];
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('end', () => resolve(Buffer.concat(parts)));
    c.on('error', reject);
    c.end(data);
  });
}

test("this Node's listening handle takes the accept path (a Node that changes it fails here)", async () => {
  const s = net.createServer();
  assert.equal(acceptWithSharedMaps(s, { allowHalfOpen: true, noDelay: true, highWaterMark: 1024 }), false, 'nothing to replace before listen');
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  assert.equal(acceptWithSharedMaps(s, { allowHalfOpen: true, noDelay: true, highWaterMark: 1024 }), true);
  await closeServer(s);
});

test('accepted sockets are what Node makes: half-open, buffers, counted by their server; bytes intact both ways', async () => {
  const seen: net.Socket[] = [];
  const [server, server6] = await listenTcp({ type: 'loopback' }, 0, {
    backlog: 16,
    onConnection: (s) => {
      seen.push(s);
      echoAfterEnd(s);
    },
  });
  assert.ok(server);
  const port = (server.address() as net.AddressInfo).port;
  const data = randomBytes(1024 * 1024);
  const back = await roundTrip(() => net.connect(port, '127.0.0.1'), data);
  assert.equal(sha(back), sha(data));
  const s = seen[0] as net.Socket & { server?: net.Server };
  assert.equal(s.allowHalfOpen, true);
  assert.equal(s.readableHighWaterMark, SOCKET_HIGH_WATER_MARK);
  assert.equal(s.writableHighWaterMark, SOCKET_HIGH_WATER_MARK);
  assert.equal(s.server, server);
  await Promise.all([server, server6].filter((x) => x !== undefined).map(closeServer));
});

test('closing a listener waits for the connections it accepted', async () => {
  let onAccepted!: (s: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (onAccepted = r));
  const [server] = await listenTcp({ type: 'address', address: '127.0.0.1' }, 0, { backlog: 16, onConnection: (s) => onAccepted(s) });
  assert.ok(server);
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const socket = await accepted;
  let closed = false;
  const closing = closeServer(server).then(() => (closed = true));
  // Were the accepted socket not counted, Node's close callback would run on the next tick.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'close waited for the open connection');
  socket.destroy();
  await closing;
  client.destroy();
});

test('a unix listener accepts through the same path, and maxConnections is left to Node', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'burrow-accept-'));
  try {
    const path = join(dir, 'l.sock');
    const server = await listenUnix(path, { backlog: 16, onConnection: echoAfterEnd });
    const data = randomBytes(256 * 1024);
    assert.equal(sha(await roundTrip(() => net.connect(path), data)), sha(data));

    // Node's own code drops what is past the limit, and says so.
    server.maxConnections = 1;
    const held = net.connect(path);
    await new Promise((r) => held.once('connect', r));
    const dropped = new Promise((r) => server.once('drop', r));
    const extra = net.connect(path);
    extra.on('error', () => {});
    await dropped;
    held.destroy();
    extra.destroy();
    await closeServer(server);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
