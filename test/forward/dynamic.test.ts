import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startForward, type Forward } from '../../src/forward/index.js';
import { EventBus, type TunnelEvent } from '../../src/events.js';
import { freePort } from '../helpers/sshd.js';
import { MiB, connect, random, roundTrip, socks4a, socks5, startEnv, startTarget, type Env, type Target } from './util.js';

let env: Env;
let fwd: Forward;
let v4: Target;
let v6: Target;
let port: number;
const events: TunnelEvent[] = [];
const up = random(64 * MiB);
const down = random(64 * MiB);
const LOOPBACK6 = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

before(async () => {
  env = await startEnv();
  v4 = await startTarget(down, { host: '127.0.0.1' });
  v6 = await startTarget(down, { host: '::1' });
  const bus = new EventBus();
  bus.subscribe((e) => events.push(e));
  fwd = await startForward({ kind: 'dynamic', text: '0' }, env.opener, { bus });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  port = addr.port;
});
after(async () => {
  await fwd.close();
  await v4.close();
  await v6.close();
  await env.stop();
});

async function through(open: (s: Awaited<ReturnType<typeof connect>>) => Promise<number>, ok: number, target: Target): Promise<void> {
  const s = await connect({ host: '127.0.0.1', port });
  assert.equal(await open(s), ok);
  const before = target.received.length;
  await roundTrip(s, up, down, target, before);
}

test('label and listening event', () => {
  assert.equal(fwd.label, `127.0.0.1:${port} → SOCKS via test-sshd`);
  assert.equal(events[0]?.type, 'forward-listening');
});

test('SOCKS5 CONNECT by domain name: 64 MiB both ways', async () => {
  await through((s) => socks5(s, { domain: 'localhost' }, v4.port), 0x00, v4);
  const open = events.find((e) => e.type === 'client-open');
  assert.equal(open?.type === 'client-open' && open.to, `localhost:${v4.port}`);
});

test('SOCKS5 CONNECT by IPv4 address', async () => {
  await through((s) => socks5(s, { ipv4: '127.0.0.1' }, v4.port), 0x00, v4);
});

test('SOCKS5 CONNECT by IPv6 address (::1)', async () => {
  await through((s) => socks5(s, { ipv6: LOOPBACK6 }, v6.port), 0x00, v6);
});

test('SOCKS4a CONNECT by name', async () => {
  await through((s) => socks4a(s, 'localhost', v4.port), 0x5a, v4);
});

test('refused target: SOCKS5 reply 0x05 (connection refused), counted as failed', async () => {
  const dead = await freePort();
  const failedBefore = fwd.stats.failed;
  const s = await connect({ host: '127.0.0.1', port });
  assert.equal(await socks5(s, { ipv4: '127.0.0.1' }, dead), 0x05);
  await new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
  assert.equal(fwd.stats.failed, failedBefore + 1);
});

test('unknown host: SOCKS5 reply 0x04 (host unreachable); SOCKS4a reply 0x5b', async () => {
  const s = await connect({ host: '127.0.0.1', port });
  assert.equal(await socks5(s, { domain: 'no-such-host.invalid' }, 80), 0x04);
  s.destroy();
  const s4 = await connect({ host: '127.0.0.1', port });
  assert.equal(await socks4a(s4, 'no-such-host.invalid', 80), 0x5b);
  s4.destroy();
});

test('a client that is not SOCKS is closed, the forward lives on', async () => {
  const s = await connect({ host: '127.0.0.1', port });
  s.write('GET / HTTP/1.1\r\n\r\n');
  await new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
  await through((c) => socks5(c, { ipv4: '127.0.0.1' }, v4.port), 0x00, v4);
});

test('a client that hangs up mid-handshake frees its slot: close() does not wait for it', { timeout: 20_000 }, async () => {
  const d = await startForward({ kind: 'dynamic', text: '0' }, env.opener);
  const addr = d.address();
  assert.ok(addr?.type === 'tcp');
  const s = await connect({ host: '127.0.0.1', port: addr.port });
  s.write(Buffer.from([0x05, 0x01]));
  s.destroy();
  await d.close();
  assert.equal(d.stats.active, 0);
  assert.equal(d.stats.total, 1);
});
