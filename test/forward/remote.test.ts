import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startForward } from '../../src/forward/index.js';
import { EventBus, type TunnelEvent } from '../../src/events.js';
import { BurrowError, isBurrowError } from '../../src/errors.js';
import type { ChannelOpener } from '../../src/ssh/channels.js';
import { freePort } from '../helpers/sshd.js';
import { MiB, canBind, connect, exchange, random, roundTrip, sha256, startEnv, startTarget, type Env } from './util.js';

let env: Env;
let dir: string;
const up = random(64 * MiB);
const down = random(64 * MiB);

before(async () => {
  env = await startEnv();
  dir = mkdtempSync(join(tmpdir(), 'burrow-rfwd-'));
});
after(async () => {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('-R tcp on a fixed port: 64 MiB both ways, intact; the server lets go after close', async () => {
  const target = await startTarget(down);
  const port = await freePort();
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const fwd = await startForward({ kind: 'remote', text: `${port}:127.0.0.1:${target.port}` }, env.opener, { bus });
  assert.deepEqual(fwd.address(), { type: 'tcp', port, hosts: ['localhost'] });
  assert.equal(fwd.label, `localhost:${port} on test-sshd → 127.0.0.1:${target.port}`);
  // sshd is on this machine: its listener is the "remote" end.
  await roundTrip(await connect({ host: '127.0.0.1', port }), up, down, target);
  assert.equal(fwd.stats.bytesIn, up.length); // server → local target
  assert.equal(fwd.stats.bytesOut, down.length);
  await fwd.close();
  assert.equal(await canBind(port, '127.0.0.1'), true);
  assert.deepEqual(
    events.map((e) => e.type),
    ['forward-listening', 'client-open', 'client-close', 'forward-closed'],
  );
  await target.close();
});

test('-R with port 0 reports the port the server picked', async () => {
  const target = await startTarget(down);
  const bus = new EventBus();
  let listening: TunnelEvent | undefined;
  bus.subscribe((e) => e.type === 'forward-listening' && (listening = e));
  const fwd = await startForward({ kind: 'remote', text: `0:127.0.0.1:${target.port}` }, env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp' && addr.port > 0);
  assert.equal(listening?.type === 'forward-listening' && listening.listen, `localhost:${addr.port}`);
  await roundTrip(await connect({ host: '127.0.0.1', port: addr.port }), up, down, target);
  await fwd.close();
  await target.close();
});

test('-R takes the connections that reach it before its start has settled', async () => {
  // Under load sshd sends its reply to `tcpip-forward` and its first CHANNEL_OPENs in one
  // read: they reach the forward before the start's promise settles. Here the opener
  // settles only once a first connection has come through to the forward.
  const target = await startTarget(down);
  const port = await freePort();
  // An upload small enough to be taken at once: where the connection is refused, the
  // exchange ends (with nothing received) instead of waiting to send.
  const small = random(8 * 1024);
  let early: Promise<{ hash: string; length: number }> | undefined;
  const opener: ChannelOpener = {
    ...env.opener,
    listenTcp: async (bind, p, onConnection) => {
      let arrived!: () => void;
      const seen = new Promise<void>((r) => (arrived = r));
      const listener = await env.opener.listenTcp(bind, p, (c) => {
        onConnection(c);
        arrived();
      });
      early = connect({ host: '127.0.0.1', port: p }).then((s) => exchange(s, small));
      await seen;
      return listener;
    },
  };
  const fwd = await startForward({ kind: 'remote', text: `${port}:127.0.0.1:${target.port}` }, opener);
  const got = await early;
  assert.equal(got?.length, down.length);
  assert.equal(got?.hash, sha256(down));
  await target.waitReceived(1);
  assert.equal(target.received[0]?.hash, sha256(small));
  assert.equal(fwd.stats.failed, 0);
  await fwd.close();
  assert.equal(await canBind(port, '127.0.0.1'), true);
  await target.close();
});

test('-R whose start fails cuts the connections it took while starting', async () => {
  const target = await startTarget(down);
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const opener: ChannelOpener = {
    ...env.opener,
    listenTcp: (_bind, _port, onConnection) => {
      onConnection({
        origin: { host: '127.0.0.1', port: 40000 },
        // A connection left to join once its target answers would call this, and fail the run.
        accept: () => {
          throw new Error('a channel accepted after its forward failed to start');
        },
        reject: () => {},
      });
      return Promise.reject(new BurrowError('FORWARD_REFUSED', 'refused for the test', { phase: 'forward' }));
    },
  };
  await assert.rejects(startForward({ kind: 'remote', text: `0:127.0.0.1:${target.port}` }, opener, { bus }), { code: 'FORWARD_REFUSED' });
  // The connection was announced and ended with the start, not left to join later.
  assert.deepEqual(
    events.map((e) => e.type),
    ['client-open', 'client-close', 'forward-failed'],
  );
  await target.close();
});

test('-R from a server unix socket to a local unix socket', async () => {
  const localPath = join(dir, 'local-target.sock');
  const remotePath = join(dir, 'remote-listen.sock');
  const small = random(4 * MiB);
  const target = await startTarget(small, { path: localPath });
  const fwd = await startForward({ kind: 'remote', text: `${remotePath}:${localPath}` }, env.opener);
  assert.deepEqual(fwd.address(), { type: 'unix', path: remotePath });
  const u = random(4 * MiB);
  await roundTrip(await connect({ path: remotePath }), u, small, target);
  await fwd.close();
  await target.close();
});

test('a port the server cannot bind is FORWARD_REFUSED', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as net.AddressInfo;
  try {
    await assert.rejects(startForward({ kind: 'remote', text: `127.0.0.1:${port}:127.0.0.1:1` }, env.opener), (e: unknown) => {
      assert.ok(isBurrowError(e, 'FORWARD_REFUSED'));
      assert.match(e.message, /refused to listen on port \d+/);
      return true;
    });
  } finally {
    holder.close();
  }
});

test('a local target that is down: the connection is refused, counted, and the forward lives on', async () => {
  const deadPort = await freePort();
  const fwd = await startForward({ kind: 'remote', text: `0:127.0.0.1:${deadPort}` }, env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  await new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
  assert.equal(fwd.stats.failed, 1);
  await fwd.close();
});
