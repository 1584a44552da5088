/**
 * -L connections are accepted as Conns (src/forward/conn.ts), without a net.Socket, and
 * handed to one when they grow: bytes must arrive intact whatever state the connection
 * is in at that moment (data read before the channel opened, an EOF either way
 * already said), and a client that leaves early must free its slot.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { connCounters } from '../../src/forward/conn.js';
import { LINK_BYTES } from '../../src/forward/link-join.js';
import { echoServer } from '../helpers/net.js';
import { MiB, connect, exchange, random, receive, send, sha256, startEnv, startTarget, type Env } from './util.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

/** The test's opener, whose channel opens wait until `release()`. */
function heldOpener(): { opener: Env['opener']; release(): void; waiting(): number } {
  let gate!: () => void;
  let open = new Promise<void>((r) => (gate = r));
  let waiting = 0;
  const opener = {
    ...env.opener,
    openLink: async (...a: Parameters<Env['opener']['openLink']>) => {
      waiting++;
      await open;
      waiting--;
      return env.opener.openLink(...a);
    },
  };
  return {
    opener,
    release() {
      gate();
      open = Promise.resolve();
    },
    waiting: () => waiting,
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test('-L connections run without a socket while small, and on a socket once they grow: intact', { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${echo.port}`), env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const { accepted, socketed } = connCounters;
  const small = random(1000);
  assert.equal((await exchange(await connect({ host: '127.0.0.1', port: addr.port }), small)).hash, sha256(small));
  assert.equal(connCounters.accepted, accepted + 1, 'accepted as a Conn');
  assert.equal(connCounters.socketed, socketed, 'a small exchange needs no socket');
  const big = random(4 * MiB + 5);
  assert.equal((await exchange(await connect({ host: '127.0.0.1', port: addr.port }), big)).hash, sha256(big));
  assert.equal(connCounters.socketed, socketed + 1);
  await fwd.close();
  await echo.close();
});

test('what a client sends before its channel opens goes first, whether it stays small or grows', { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  for (const size of [100, LINK_BYTES / 2, LINK_BYTES + 1, 3 * MiB + 11]) {
    const held = heldOpener();
    const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${echo.port}`), held.opener);
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    const s = await connect({ host: '127.0.0.1', port: addr.port });
    const up = random(size);
    const sent = send(s, up);
    const got = receive(s);
    // Everything the client could send (or its first 16 KiB and a read) is read before the channel exists.
    await until('the channel open is waiting', () => held.waiting() === 1);
    await new Promise((r) => setTimeout(r, 100));
    held.release();
    await sent;
    const r = await got;
    assert.equal(r.length, size, `${size} bytes`);
    assert.equal(r.hash, sha256(up), `${size} bytes`);
    assert.equal(fwd.stats.failed, 0);
    await fwd.close();
  }
  await echo.close();
});

test('a server that answers and ends first, then a large upload: the socket takes over with its write side ended', { timeout: 60_000 }, async () => {
  const answer = random(10);
  const target = await startTarget(answer);
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const socketed = connCounters.socketed;
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  const got = await receive(s); // the answer and the server's EOF
  assert.equal(got.hash, sha256(answer));
  const up = random(5 * MiB + 3);
  await send(s, up);
  await target.waitReceived(1);
  assert.deepEqual(target.received[0], { hash: sha256(up), length: up.length });
  if (!s.closed) await new Promise((r) => s.once('close', r));
  assert.equal(connCounters.socketed, socketed + 1);
  assert.equal(fwd.stats.failed, 0);
  await fwd.close();
  await target.close();
});

test('a client that resets before its channel opens frees its slot at once; the late channel is closed', { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const held = heldOpener();
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${echo.port}`), held.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  await until('the channel open is waiting', () => held.waiting() === 1);
  assert.equal(fwd.stats.active, 1);
  s.resetAndDestroy();
  await until('the slot is free while the open still waits', () => fwd.stats.active === 0);
  assert.equal(held.waiting(), 1);
  held.release();
  // The forward goes on, and the channel opened for the gone client does not linger on the server.
  const small = random(500);
  assert.equal((await exchange(await connect({ host: '127.0.0.1', port: addr.port }), small)).hash, sha256(small));
  await until('no connection is left open', () => fwd.stats.active === 0);
  const table = (env.opener.client as unknown as { _chanMgr: { _count: number } })._chanMgr;
  await until('the late channel was closed on both ends', () => table._count === 0);
  await fwd.close();
  await echo.close();
});
