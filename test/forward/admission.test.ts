import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { MiB, connect, exchange, random, sha256, startEnv, startTarget, type Env } from './util.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

test('-L past maxBusyChannels: 12 concurrent transfers wait their turn and all arrive intact', { timeout: 120_000 }, async () => {
  const down = random(2 * MiB);
  const up = random(64 * 1024);
  const target = await startTarget(down);
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), env.opener, { maxBusyChannels: 2 });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const sockets = await Promise.all(Array.from({ length: 12 }, () => connect({ host: '127.0.0.1', port: addr.port })));
  const got = await Promise.all(sockets.map((s) => exchange(s, up)));
  assert.ok(got.every((g) => g.hash === sha256(down)));
  await target.waitReceived(12);
  assert.ok(target.received.every((r) => r.hash === sha256(up)));
  await fwd.close();
  assert.equal(fwd.stats.total, 12);
  assert.equal(fwd.stats.failed, 0);
  await target.close();
});

test('-L: a stalled connection stops counting as busy, so it does not hold new ones back', { timeout: 120_000 }, async () => {
  const down = random(16 * MiB);
  const target = await startTarget(down);
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), env.opener, { maxBusyChannels: 1 });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  // Never reads: once the window and the buffers are full, nothing moves.
  const stalled = await connect({ host: '127.0.0.1', port: addr.port });
  stalled.pause();
  const other = await connect({ host: '127.0.0.1', port: addr.port });
  const got = await exchange(other, random(1024));
  assert.equal(got.hash, sha256(down));
  assert.equal(fwd.stats.active, 1);
  stalled.destroy();
  await fwd.close();
  await target.close();
});
