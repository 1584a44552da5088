import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { EventBus, type TunnelEvent } from '../../src/events.js';
import { isBurrowError } from '../../src/errors.js';
import { MiB, canBind, connect, exchange, random, receive, roundTrip, sha256, startEnv, startTarget, type Env } from './util.js';

let env: Env;
let dir: string;
const up = random(64 * MiB);
const down = random(64 * MiB);
const upHash = sha256(up);
const downHash = sha256(down);

before(async () => {
  env = await startEnv();
  dir = mkdtempSync(join(tmpdir(), 'burrow-fwd-'));
});
after(async () => {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('-L tcp on loopback: 64 MiB both ways, intact; port free after close', async () => {
  const target = await startTarget(down);
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), env.opener, { bus });
  const addr = fwd.address();
  assert.equal(addr?.type, 'tcp');
  if (addr?.type !== 'tcp') return;
  assert.deepEqual([...addr.hosts].sort(), ['127.0.0.1', '::1']);
  assert.equal(fwd.label, `127.0.0.1:${addr.port} → 127.0.0.1:${target.port} via test-sshd`);

  // Both families reach the same forward.
  for (const host of ['127.0.0.1', '::1']) {
    const s = await connect({ host, port: addr.port });
    const got = await exchange(s, up);
    assert.equal(got.hash, downHash);
  }
  await target.waitReceived(2);
  assert.deepEqual(target.received.map((r) => r.hash), [upHash, upHash]);

  await fwd.close();
  assert.equal(fwd.address(), undefined);
  assert.equal(await canBind(addr.port, '127.0.0.1'), true);
  assert.equal(await canBind(addr.port, '::1'), true);
  assert.equal(fwd.stats.total, 2);
  assert.equal(fwd.stats.active, 0);
  assert.equal(fwd.stats.bytesIn, 2 * down.length);
  assert.equal(fwd.stats.bytesOut, 2 * up.length);
  const types = events.map((e) => e.type);
  assert.deepEqual(types.filter((t) => t === 'client-open').length, 2);
  assert.equal(types[0], 'forward-listening');
  assert.equal(types.at(-1), 'forward-closed');
  const closes = events.filter((e) => e.type === 'client-close');
  assert.ok(closes.every((e) => e.type === 'client-close' && e.bytesIn === down.length && e.error === undefined));
  await target.close();
});

test('-L to a unix socket on the server', async () => {
  const path = join(dir, 'remote-app.sock');
  const target = await startTarget(down, { path });
  const fwd = await startForward({ kind: 'local', text: `0:${path}` }, env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  await roundTrip(await connect({ host: '127.0.0.1', port: addr.port }), up, down, target);
  await fwd.close();
  await target.close();
});

test('-L from a local unix socket (mode 0600, stale file replaced)', async () => {
  const target = await startTarget(down);
  const path = join(dir, 'local.sock');
  // A stale socket file: its listener was killed and could not unlink it.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)})`], { stdio: 'ignore' });
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(statSync(path).isSocket());

  const fwd = await startForward({ kind: 'local', text: `${path}:127.0.0.1:${target.port}` }, env.opener);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(fwd.address(), { type: 'unix', path });
  await roundTrip(await connect({ path }), up, down, target);

  // A second forward on the same, live, path is refused.
  await assert.rejects(startForward({ kind: 'local', text: `${path}:127.0.0.1:1` }, env.opener), (e: unknown) => isBurrowError(e, 'BIND_FAILED'));
  await fwd.close();
  await target.close();
});

test('200 concurrent clients through one -L', async () => {
  const small = random(256 * 1024);
  const target = await startTarget(small);
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${target.port}` }, env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const ups = Array.from({ length: 200 }, () => random(64 * 1024));
  const results = await Promise.all(
    ups.map(async (u, i) => exchange(await connect({ host: i % 2 ? '::1' : '127.0.0.1', port: addr.port }), u)),
  );
  assert.ok(results.every((r) => r.hash === sha256(small)));
  await target.waitReceived(200);
  assert.deepEqual(target.received.map((r) => r.hash).sort(), ups.map(sha256).sort());
  assert.equal(fwd.stats.total, 200);
  assert.equal(fwd.stats.failed, 0);
  await fwd.close();
  await target.close();
});

test('a port in use is PORT_IN_USE naming the process that holds it', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as net.AddressInfo;
  const bus = new EventBus();
  const failed: TunnelEvent[] = [];
  bus.subscribe((e) => e.type === 'forward-failed' && failed.push(e));
  try {
    await assert.rejects(startForward({ kind: 'local', text: `${port}:127.0.0.1:22` }, env.opener, { bus }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'PORT_IN_USE'));
      assert.equal(e.details.pid, process.pid);
      assert.match(e.message, new RegExp(`port ${port} is in use by \\S+ \\(pid ${process.pid}\\); pick another or use 0`));
      return true;
    });
    assert.equal(failed.length, 1);
    // Nothing half-bound was left on ::1.
    assert.equal(await canBind(port, '::1'), true);
  } finally {
    holder.close();
  }
});

test('a refused channel counts as failed and cuts only that client', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${deadPort}` }, env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  // The forward closes the socket: the client sees the end of the stream.
  await new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
  assert.equal(fwd.stats.failed, 1);
  const c = events.find((e) => e.type === 'client-close');
  assert.equal(c?.type === 'client-close' && c.error?.code, 'CHANNEL_OPEN_FAILED');
  await fwd.close();
});

test('a client reset mid-transfer does not crash; the forward keeps serving', async () => {
  const target = await startTarget(down);
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${target.port}` }, env.opener);
  try {
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    for (let i = 0; i < 5; i++) {
      const s = await connect({ host: '127.0.0.1', port: addr.port });
      s.write(up.subarray(0, 4 * MiB));
      await new Promise<void>((r) => {
        let n = 0;
        s.on('data', (c: Buffer) => {
          n += c.length;
          if (n > MiB) {
            s.resetAndDestroy();
            r();
          }
        });
      });
    }
    // The next connection's channel may get the number of a reset one
    // (channel-reuse.test.ts): its download must still arrive whole.
    const got = await exchange(await connect({ host: '127.0.0.1', port: addr.port }), up);
    assert.equal(got.length, down.length);
    assert.equal(got.hash, downHash);
    await fwd.close(); // resolves only once every reset client was cleaned up
    assert.equal(fwd.stats.active, 0);
  } finally {
    fwd.destroy(); // after a failure: a forward left listening holds the file open
    await target.close();
  }
});

test('destroy() cuts open connections and frees the port at once', async () => {
  const target = await startTarget(down);
  const bus = new EventBus();
  const forwardClosed = new Promise<void>((r) => bus.subscribe((e) => e.type === 'forward-closed' && r()));
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${target.port}` }, env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  const closed = new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
  await new Promise((r) => s.once('data', r)); // the download is under way
  fwd.destroy();
  await closed;
  assert.equal(fwd.stats.active, 0);
  await forwardClosed;
  assert.equal(await canBind(addr.port, '127.0.0.1'), true);
  await target.close();
});

test('half-close: the client ends its side and still gets the reply; close() lets it finish', async () => {
  // A service that answers only after the request has ended: sha256 of what it got.
  const svc = net.createServer({ allowHalfOpen: true }, (s) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => s.end(sha256(Buffer.concat(parts))));
  });
  await new Promise<void>((r) => svc.listen(0, '127.0.0.1', r));
  const bus = new EventBus();
  const opened = new Promise<void>((r) => bus.subscribe((e) => e.type === 'client-open' && r()));
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${(svc.address() as net.AddressInfo).port}` }, env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  await opened;
  const closing = fwd.close();
  // No new clients once closing...
  await assert.rejects(connect({ host: '127.0.0.1', port: addr.port }), /ECONNREFUSED/);
  // ...but the open one finishes its exchange.
  const body = random(8 * MiB);
  const reply = receive(s);
  s.end(body);
  const r = await reply;
  await closing;
  assert.equal(fwd.stats.active, 0);
  svc.close();
  assert.equal(r.length, 64);
  assert.equal(r.hash, sha256(Buffer.from(sha256(body))));
});

test('a download read to its end: the client EOF and the channel CLOSE reach sshd in one write', { timeout: 20_000 }, async () => {
  const data = random(256 * 1024);
  const target = await startTarget(data);
  const bus = new EventBus();
  const closed = new Promise<void>((r) => bus.subscribe((e) => e.type === 'client-close' && r()));
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  const got = await receive(s); // the target sent it all and ended: sshd's EOF is in
  assert.equal(got.hash, sha256(data));
  // What leaves on the SSH connection from here: each write(2) as its list of packets.
  type Write = (this: net.Socket, ...a: unknown[]) => void;
  const sock = (env.opener.client as unknown as { _sock: net.Socket & { _write: Write; _writev: Write } })._sock;
  const writes: number[] = [];
  const [write, writev] = [sock._write, sock._writev];
  sock._write = function (...a) {
    writes.push(1);
    write.apply(this, a);
  };
  sock._writev = function (...a) {
    writes.push((a[0] as unknown[]).length);
    writev.apply(this, a);
  };
  try {
    s.end();
    await closed;
    await new Promise((r) => setTimeout(r, 100)); // anything sent after the join settled
  } finally {
    sock._write = write;
    sock._writev = writev;
  }
  await fwd.close();
  await target.close();
  // EOF and CLOSE together, as OpenSSH sends them: not two writes a tick apart.
  assert.deepEqual(writes, [2]);
});
