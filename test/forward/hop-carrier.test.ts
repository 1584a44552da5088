/**
 * ProxyJump over a socketpair (src/forward/hop-carrier.ts): the hop's channel joined to
 * one end as a forward joins a local socket, the inner connection on the other. Bytes
 * arrive intact both ways through a forward of the inner session, every descriptor is
 * closed again afterwards, and a jump host that goes away takes the inner session with
 * it. (test/ssh/session.test.ts runs ProxyJump on the channel itself, without a carrier.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { startForward } from '../../src/forward/index.js';
import { carryHop, hopCounters } from '../../src/forward/hop-carrier.js';
import { SessionPool } from '../../src/ssh/pool.js';
import { loopMayNap } from '../../src/ssh/native-rx.js';
import { socketPair } from '../../src/ssh/sendv.js';
import { isBurrowError } from '../../src/errors.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { sshdConfig } from '../helpers/config.js';
import { until } from '../helpers/wait.js';
import { MiB, connect, random, roundTrip, startTarget } from './util.js';

let sshd: Sshd;
let jump: Sshd;
before(async () => {
  sshd = await startSshd();
  jump = await startSshd();
});
after(async () => {
  await sshd?.stop();
  await jump?.stop();
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

function jumpPool(): SessionPool {
  return new SessionPool({ resolve: async () => sshdConfig(jump, { alias: 'jumphost' }), carryHop });
}

test('-J over a socketpair: a forward through the inner session carries 32 MiB each way intact, and every descriptor is closed after', async () => {
  const fds0 = openFds();
  const paired0 = hopCounters.paired;
  const pool = jumpPool();
  const lease = await pool.acquire(sshdConfig(sshd, { proxyJump: 'jumphost' }));
  assert.equal(hopCounters.paired - paired0, 1, 'the hop was carried over a socketpair');
  const down = random(32 * MiB);
  const target = await startTarget(down);
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${target.port}` }, lease.session);
  const at = fwd.address();
  assert.ok(at?.type === 'tcp');
  await roundTrip(await connect({ host: '127.0.0.1', port: at.port }), random(32 * MiB), down, target);
  await fwd.close();
  await target.close();
  await lease.release();
  assert.equal(pool.size, 0);
  await until(`descriptors back to the ${fds0} open before`, () => openFds() <= fds0, 5000);
});

test("the receive loop naps on a TCP socket, not on a hop's socketpair (a fixed ~208 KiB buffer: napped, a loopback -J download ran at 188 MiB/s instead of ~500)", async () => {
  assert.ok(socketPair, 'the sendv addon is built');
  const [a, b] = socketPair();
  try {
    assert.equal(loopMayNap(a), false);
  } finally {
    closeSync(a);
    closeSync(b);
  }
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  const tcp = net.connect(addr.port, '127.0.0.1');
  await once(tcp, 'connect');
  try {
    assert.equal(loopMayNap((tcp as net.Socket & { _handle: { fd: number } })._handle.fd), true);
  } finally {
    tcp.destroy();
    server.close();
  }
});

test('-J over a socketpair: the jump host going away ends the inner session as lost', async () => {
  const pool = jumpPool();
  const lease = await pool.acquire(sshdConfig(sshd, { proxyJump: 'jumphost' }));
  const closed = new Promise<unknown>((r) => lease.session.once('close', r));
  jump.killConnections();
  const why = await closed;
  assert.ok(isBurrowError(why), `closed with ${String(why)}`);
  await lease.release();
});
