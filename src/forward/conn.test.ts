import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { closeServer, listenTcp } from './listen.js';
import { Conn, type ConnUser } from './conn.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A loopback listener whose connections come as Conns, and a client connected to it. */
async function pair(): Promise<{ conn: Conn; client: net.Socket; close(): Promise<void> }> {
  let take!: (c: Conn) => void;
  const got = new Promise<Conn>((r) => (take = r));
  const servers = await listenTcp({ type: 'loopback' }, 0, {
    backlog: 16,
    onConnection: (s) => {
      s.destroy();
      assert.fail('accepted as a socket');
    },
    onConn: (c) => take(c),
  });
  const port = (servers[0]?.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  client.on('error', () => {});
  const conn = await got;
  return {
    conn,
    client,
    async close() {
      client.destroy();
      await Promise.all(servers.map(closeServer));
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

test('what was read before start is handed to a socket taken on its first chunk, in order, with the EOF', { timeout: 20_000 }, async () => {
  const { conn, client, close } = await pair();
  const parts = [randomBytes(100), randomBytes(200), randomBytes(300)];
  for (const p of parts) {
    client.write(p);
    await sleep(30); // a read each
  }
  client.end();
  await sleep(100);
  let socket: net.Socket | undefined;
  const after: Buffer[] = [];
  conn.start({
    data(chunk) {
      if (socket) after.push(chunk);
      else socket = conn.toSocket({ highWaterMark: 16384 }, chunk);
    },
    end: () => assert.fail('the socket has the EOF'),
    finish() {},
    error: (e) => assert.fail(e),
  });
  assert.ok(socket, 'handed over');
  assert.equal(after.length, 0, 'nothing is given to the user after the handover');
  const got = await readAll(socket);
  assert.equal(sha(got), sha(Buffer.concat(parts)));
  socket.destroy();
  await close();
});

test('a socket taken after our EOF is not writable; reading goes on there', { timeout: 20_000 }, async () => {
  const { conn, client, close } = await pair();
  const fromClient = readAll(client);
  const events: string[] = [];
  const user: ConnUser = { data: () => events.push('data'), end: () => events.push('end'), finish: () => events.push('finish'), error: (e) => assert.fail(e) };
  conn.start(user);
  assert.equal(conn.write(Buffer.from('bye')), true);
  conn.end();
  assert.equal((await fromClient).toString(), 'bye');
  assert.deepEqual(events, ['finish']);
  const socket = conn.toSocket({ highWaterMark: 16384 });
  assert.equal(socket.writable, false);
  const up = randomBytes(3 * 1024 * 1024);
  const got = readAll(socket);
  socket.resume();
  client.end(up);
  assert.equal(sha(await got), sha(up));
  await close();
});

test('writes the kernel does not take at once are copies: the caller may reuse its memory', { timeout: 20_000 }, async () => {
  const { conn, client, close } = await pair();
  conn.start({ data() {}, end() {}, finish() {}, error: (e) => assert.fail(e) });
  client.pause();
  const want = randomBytes(8 * 1024 * 1024);
  const scratch = Buffer.from(want);
  let waited = false;
  for (let off = 0; off < scratch.length; off += 65536) {
    const view = scratch.subarray(off, off + 65536);
    if (!conn.write(view)) waited = true;
    view.fill(0); // reused at once, as a read buffer is
  }
  assert.ok(waited, 'the client did not read: bytes had to wait');
  assert.ok(conn.writableLength > 0);
  conn.end();
  const got = readAll(client);
  client.resume();
  assert.equal(sha(await got), sha(want));
  await close();
});

test('a client reset is an ECONNRESET error, and the Conn is closed', { timeout: 20_000 }, async () => {
  const { conn, client, close } = await pair();
  const err = new Promise<Error>((resolve) => conn.start({ data() {}, end() {}, finish() {}, error: resolve }));
  const closed = new Promise<void>((r) => (conn.onClose = r));
  client.resetAndDestroy();
  const e = (await err) as Error & { code?: string };
  assert.equal(e.code, 'ECONNRESET');
  await closed;
  assert.equal(conn.closed, true);
  await close();
});
