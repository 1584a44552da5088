/**
 * -L connections start as links (src/ssh/link.ts) and become ssh2 Channels once they
 * carry more than a request and a reply: bytes must arrive intact across that change
 * in every state a connection can be in, and a link must end like a channel does.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startForward, type Forward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { LINK_BYTES } from '../../src/forward/link-join.js';
import { linkCounters } from '../../src/ssh/link.js';
import { echoServer } from '../helpers/net.js';
import { MiB, connect, exchange, random, receive, send, sha256, startEnv, startTarget, type Env } from './util.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

async function forwardTo(port: number): Promise<{ fwd: Forward; port: number }> {
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${port}`), env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  return { fwd, port: addr.port };
}

test('a request and its reply stay on the link; more becomes a channel, intact each way', { timeout: 60_000 }, async () => {
  const echo = await echoServer();
  const { fwd, port } = await forwardTo(echo.port);
  const upgraded = linkCounters.upgraded;
  const opened = linkCounters.opened;
  const small = random(1000);
  assert.equal((await exchange(await connect({ host: '127.0.0.1', port }), small)).hash, sha256(small));
  assert.equal(linkCounters.opened, opened + 1);
  assert.equal(linkCounters.upgraded, upgraded, 'a small exchange must not need a channel');

  // Past LINK_BYTES the local side's data moves the link to a channel mid-connection.
  const big = random(8 * MiB + 123);
  assert.equal((await exchange(await connect({ host: '127.0.0.1', port }), big)).hash, sha256(big));
  assert.equal(linkCounters.upgraded, upgraded + 1);
  await fwd.close();
  await echo.close();
});

test('a download after the client half-closed (the server speaks first): intact', { timeout: 60_000 }, async () => {
  const down = random(6 * MiB + 7);
  const target = await startTarget(down);
  const { fwd, port } = await forwardTo(target.port);
  const upgraded = linkCounters.upgraded;
  for (let i = 0; i < 3; i++) {
    const s = await connect({ host: '127.0.0.1', port });
    const up = random(100);
    // The request and our EOF first, then the whole download: the link becomes a channel
    // after our EOF, and (as the target sends at once) maybe before the join had started.
    const [, got] = await Promise.all([send(s, up), receive(s)]);
    assert.equal(got.hash, sha256(down));
    assert.equal(got.length, down.length);
  }
  await target.waitReceived(3);
  assert.equal(target.received.length, 3);
  assert.ok(target.received.every((r) => r.length === 100));
  assert.equal(linkCounters.upgraded, upgraded + 3);
  assert.equal(fwd.stats.failed, 0);
  await fwd.close();
  await target.close();
});

test('a server that says its line and closes at once: the line arrives, then a clean end', { timeout: 60_000 }, async () => {
  const banner = random(LINK_BYTES / 2);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(banner);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { fwd, port } = await forwardTo((server.address() as net.AddressInfo).port);
  const upgraded = linkCounters.upgraded;
  for (let i = 0; i < 5; i++) {
    const s = await connect({ host: '127.0.0.1', port });
    const got = await receive(s);
    assert.equal(got.hash, sha256(banner));
    s.end();
    await new Promise((r) => s.once('close', r));
  }
  assert.equal(linkCounters.upgraded, upgraded);
  assert.equal(fwd.stats.failed, 0);
  await fwd.close();
  await new Promise((r) => server.close(r));
});

test('a link whose connection dies: its client is reset, not ended as if complete', { timeout: 60_000 }, async () => {
  const local = await startEnv();
  try {
    const echo = await echoServer();
    const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${echo.port}`), local.opener);
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    const s = await connect({ host: '127.0.0.1', port: addr.port });
    const hello = random(10);
    s.write(hello);
    // Drained: a client with unread data can read EOF instead of the reset (helpers/net.ts).
    const first = await new Promise<Buffer>((r) => s.once('data', r));
    assert.deepEqual(first, hello);
    const outcome = new Promise<string>((resolve) => {
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.once('end', () => resolve('end'));
    });
    local.sshd.killConnections();
    assert.equal(await outcome, 'ECONNRESET');
    s.destroy();
    fwd.destroy();
    await echo.close();
  } finally {
    await local.stop();
  }
});

test('what comes with the confirmation, before the link is joined (data, EOF), arrives in order', { timeout: 60_000 }, async () => {
  for (const size of [1000, 4 * LINK_BYTES]) {
    const banner = random(size);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.end(banner);
      s.resume();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // The link is handed to the join only 300 ms after it opened: meanwhile the target
    // has sent everything and ended (in the read that carries the confirmation, with
    // a server quicker than this process, as through a jump host).
    const opener = {
      ...env.opener,
      openLink: async (...a: Parameters<Env['opener']['openLink']>) => {
        const link = await env.opener.openLink(...a);
        await new Promise((r) => setTimeout(r, 300));
        return link;
      },
    };
    const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${(server.address() as net.AddressInfo).port}`), opener);
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    const upgraded = linkCounters.upgraded;
    const early = linkCounters.early;
    const s = await connect({ host: '127.0.0.1', port: addr.port });
    const got = await receive(s);
    assert.equal(got.hash, sha256(banner), `${size} bytes`);
    assert.ok(linkCounters.early > early, 'the data came before the join');
    // A banner larger than a link carries made it a channel while it was handed over.
    assert.equal(linkCounters.upgraded, upgraded + (size > LINK_BYTES ? 1 : 0));
    s.end();
    await new Promise((r) => s.once('close', r));
    assert.equal(fwd.stats.failed, 0);
    await fwd.close();
    await new Promise((r) => server.close(r));
  }
});
