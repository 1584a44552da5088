import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { joinStreams } from './pipe.js';
import { TRANSPORT_HIGH_WATER } from '../ssh/transport-turns.js';
import { still, until } from '../../test/helpers/wait.js';
import { TransportChannel, fakeTransport } from '../../test/helpers/transport-channel.js';

/** A connected TCP pair on loopback: `near` is what the forwarder holds, `far` the peer. */
async function pair(): Promise<{ near: net.Socket; far: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const far = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [near] = (await once(server, 'connection')) as [net.Socket];
  await once(far, 'connect');
  server.close();
  return { near, far };
}

function readAll(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  return once(s, 'end').then(() => Buffer.concat(parts));
}

test('half-close: each direction ends on its own, and the join settles cleanly after both', async () => {
  const l = await pair();
  const r = await pair();
  const j = joinStreams(l.near, r.near);
  const atFar = readAll(r.far);
  const atClient = readAll(l.far);
  l.far.end('request');
  assert.equal((await atFar).toString(), 'request');
  // The client's half is closed; the reply still comes back through the other direction.
  r.far.end('reply');
  assert.equal((await atClient).toString(), 'reply');
  const res = await j.done;
  assert.deepEqual(res, { bytesIn: 5, bytesOut: 7 });
  await Promise.all([l.near.closed ? undefined : once(l.near, 'close'), r.near.closed ? undefined : once(r.near, 'close')]);
  l.far.destroy();
  r.far.destroy();
});

test('a stalled reader holds the sender back; once it reads, every byte arrives', async () => {
  const l = await pair();
  const r = await pair();
  const j = joinStreams(l.near, r.near);
  l.far.pause(); // the client stops reading
  const total = 64 * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024, 7);
  let sent = 0;
  // What the join holds in memory: the local socket's write queue and the source's read buffer.
  let held = 0;
  const sample = (): void => void (held = Math.max(held, l.near.writableLength + r.near.readableLength));
  const send = (stopAt: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const pump = (): void => {
        while (sent < total) {
          sample();
          sent += chunk.length;
          if (!r.far.write(chunk)) return void r.far.once('drain', pump);
        }
        resolve();
      };
      pump();
      // Nothing frees the sender but the client reading: give it time to fill every buffer.
      if (stopAt > 0) setTimeout(resolve, stopAt);
    });
  await send(500);
  sample();
  assert.ok(held <= 1024 * 1024, `the join held ${held} bytes for a reader that takes nothing`);
  const got = readAll(l.far);
  l.far.resume();
  await send(0);
  r.far.end();
  assert.equal((await got).length, total);
  l.far.end();
  assert.equal((await j.done).bytesIn, total);
  r.far.destroy();
});

test('the remote side failing resets the local client instead of closing it cleanly', async () => {
  const l = await pair();
  const remote = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  const j = joinStreams(l.near, remote);
  const reset = once(l.far, 'error');
  remote.destroy(new Error('connection lost'));
  const [err] = (await reset) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNRESET');
  assert.equal((await j.done).error?.message, 'connection lost');
});

test('destroy() cuts both sides once and reports the join as not clean', async () => {
  const l = await pair();
  let destroys = 0;
  const remote = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
    destroy(err, cb) {
      destroys++;
      cb(err);
    },
  });
  const j = joinStreams(l.near, remote);
  const closed = once(l.far, 'end');
  j.destroy();
  j.destroy();
  await closed; // a plain cut without an error closes the client with a FIN
  const res = await j.done;
  assert.equal((res.error as NodeJS.ErrnoException).code, 'ERR_STREAM_PREMATURE_CLOSE');
  assert.equal(destroys, 1);
  assert.ok(l.near.destroyed && remote.destroyed);
  l.far.destroy();
});

test('a side that closes before its data ended fails the join', async () => {
  const l = await pair();
  const remote = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  const j = joinStreams(l.near, remote);
  remote.destroy(); // no error, no end: gone under us
  const res = await j.done;
  assert.equal((res.error as NodeJS.ErrnoException).code, 'ERR_STREAM_PREMATURE_CLOSE');
  l.far.destroy();
});

test('the channel closed by the server while the client still sends: the client is cut, not held', { timeout: 10_000 }, async () => {
  const l = await pair();
  // Like an ssh2 channel on CHANNEL_CLOSE: it ends both its sides itself, then closes.
  let wrote!: () => void;
  const written = new Promise<void>((r) => (wrote = r));
  const remote = new Duplex({
    read() {},
    write(_c, _e, cb) {
      wrote();
      cb();
    },
  });
  const j = joinStreams(l.near, remote);
  l.far.write('more to say');
  await written;
  remote.push(null);
  remote.end();
  l.far.on('error', () => {});
  const res = await j.done;
  assert.equal((res.error as NodeJS.ErrnoException).code, 'ERR_STREAM_PREMATURE_CLOSE');
  // The forwarder let go of its socket (the client saw the reply's end first).
  assert.ok(l.near.destroyed);
  await once(l.far, 'end');
  l.far.destroy();
});

/**
 * A channel whose writes wait (for the server's window, or for the SSH connection's
 * transport, as ssh2's do) until let go; its high-water mark is ssh2's (256 KiB).
 */
class WaitingChannel extends Duplex {
  readonly hash = createHash('sha256');
  length = 0;
  #waiting: (() => void)[] = [];
  #hold = true;
  constructor() {
    super({ writableHighWaterMark: 256 * 1024, allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.hash.update(c);
    this.length += c.length;
    if (this.#hold) this.#waiting.push(cb);
    else cb();
  }
  letGo(): void {
    this.#hold = false;
    for (const cb of this.#waiting.splice(0)) cb();
  }
}

test('a local socket stops reading at its first write the channel leaves waiting; let go, every byte arrives', async (t) => {
  const l = await pair();
  const ch = new WaitingChannel();
  const j = joinStreams(l.near, ch);
  // A failed assertion must not leave the sockets holding the test process open.
  t.after(() => {
    j.destroy();
    l.far.destroy();
  });
  const data = randomBytes(8 * 1024 * 1024);
  l.far.end(data);
  await still('the client sending while the write waits', () => l.far.writableLength, 250);
  // One read (Node reads 64 KiB at most), not up to the channel's high-water mark.
  assert.ok(j.bytesOut > 0 && j.bytesOut <= 64 * 1024, `taken while the write waited: ${j.bytesOut}`);
  // And nothing read ahead behind it: the rest waits in the kernel, not in memory.
  assert.equal(l.near.readableLength, 0, 'read ahead by the paused socket');
  ch.letGo();
  await until('every byte through the channel once let go', () => ch.length >= data.length);
  assert.equal(ch.hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('sockets sending into a congested SSH transport: a few read one chunk, the rest nothing; once it drains, every byte arrives', async (t) => {
  const transport = fakeTransport(2 * TRANSPORT_HIGH_WATER);
  const conns = await Promise.all(
    Array.from({ length: 24 }, async () => {
      const l = await pair();
      const ch = new TransportChannel({ _sock: transport });
      const j = joinStreams(l.near, ch);
      const data = randomBytes(1024 * 1024);
      l.far.end(data);
      return { l, ch, j, data };
    }),
  );
  t.after(() => {
    for (const c of conns) {
      c.j.destroy();
      c.l.far.destroy();
    }
  });
  await still('the clients sending while the transport is congested', () => conns.reduce((n, c) => n + c.l.far.writableLength, 0), 250);
  // 16 turns while congested (transport-turns.ts), one read each; nothing read ahead.
  const moved = conns.filter((c) => c.j.bytesOut > 0);
  assert.ok(moved.length <= 16, `sockets that read while the transport was congested: ${moved.length}`);
  for (const c of conns) {
    assert.ok(c.j.bytesOut <= 64 * 1024, `read while the transport was congested: ${c.j.bytesOut}`);
    assert.equal(c.l.near.readableLength, 0, 'read ahead while the transport was congested');
  }
  transport.writableLength = 0;
  transport.emit('drain');
  await until('every byte through its channel', () => conns.every((c) => c.ch.length >= c.data.length));
  for (const c of conns) assert.equal(c.ch.hash.digest('hex'), createHash('sha256').update(c.data).digest('hex'));
});
