import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { bindChoice, closeServer, listenTcp } from './listen.js';
import { startForward } from './index.js';
import { EventBus, type TunnelEvent } from '../events.js';
import { isBurrowError } from '../errors.js';
import type { ChannelOpener } from '../ssh/channels.js';

const o = { backlog: 1024, onConnection: (s: net.Socket) => s.destroy() };

/** An opener that must not be reached: these tests stop at the listener. */
const unused: ChannelOpener = {
  destination: 'nowhere',
  openTcp: () => Promise.reject(new Error('unused')),
  openUnix: () => Promise.reject(new Error('unused')),
  openLink: () => Promise.reject(new Error('unused')),
  listenTcp: () => Promise.reject(new Error('unused')),
  listenUnix: () => Promise.reject(new Error('unused')),
};

test('bind rules follow the OpenSSH client', () => {
  assert.deepEqual(bindChoice(undefined, false), { type: 'loopback' });
  assert.deepEqual(bindChoice(undefined, true), { type: 'all' });
  assert.deepEqual(bindChoice('localhost', true), { type: 'loopback' });
  // ssh -L '*:port:...' listens everywhere even with GatewayPorts=no (checked against OpenSSH 9).
  assert.deepEqual(bindChoice('*', false), { type: 'all' });
  assert.deepEqual(bindChoice('', false), { type: 'all' });
  assert.deepEqual(bindChoice('192.0.2.1', false), { type: 'address', address: '192.0.2.1' });
});

test('loopback listens on 127.0.0.1 and ::1 with one port; all interfaces on ::', async () => {
  const lo = await listenTcp({ type: 'loopback' }, 0, o);
  const addrs = lo.map((s) => s.address() as net.AddressInfo);
  assert.deepEqual(addrs.map((a) => a.address).sort(), ['127.0.0.1', '::1']);
  assert.equal(addrs[0]?.port, addrs[1]?.port);
  await Promise.all(lo.map(closeServer));

  const all = await listenTcp({ type: 'all' }, 0, o);
  assert.deepEqual(all.map((s) => (s.address() as net.AddressInfo).address), ['::']);
  // Dual stack: IPv4 clients reach it too.
  const port = (all[0]?.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', resolve).on('error', reject));
  await Promise.all(all.map(closeServer));
});

/** Listens on `host`:`port`, or resolves undefined when it is taken. */
function tryListen(port: number, host: string, ipv6Only = false): Promise<net.Server | undefined> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(undefined));
    s.listen({ port, host, ipv6Only }, () => resolve(s));
  });
}

test('a port taken on ::1 only is PORT_IN_USE, and 127.0.0.1 is let go again', async () => {
  // Below the ephemeral range: a port 0 from there can meanwhile be the local end of
  // another test's connection on 127.0.0.1, and the probe below would fail for it.
  let holder: net.Server | undefined;
  let port = 20000;
  for (; port < 30000; port++) {
    const free4 = await tryListen(port, '127.0.0.1');
    if (!free4) continue;
    await closeServer(free4);
    holder = await tryListen(port, '::1', true);
    if (holder) break;
  }
  assert.ok(holder, 'no port free on both 127.0.0.1 and ::1');
  await assert.rejects(listenTcp({ type: 'loopback' }, port, o), (e: unknown) => isBurrowError(e, 'PORT_IN_USE'));
  const probe = net.createServer();
  await new Promise<void>((r, j) => probe.once('error', j).listen(port, '127.0.0.1', r));
  await closeServer(probe);
  await closeServer(holder);
});

test('a privileged port without the right to bind it is PORT_PRIVILEGED before anything listens', async () => {
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  await assert.rejects(startForward({ kind: 'local', text: '80:localhost:80' }, unused, { bus, mayBindPrivileged: false }), (e: unknown) =>
    isBurrowError(e, 'PORT_PRIVILEGED'),
  );
  assert.equal(events[0]?.type, 'forward-failed');
});

test('an ephemeral-range port works, with a warning', async () => {
  const bus = new EventBus();
  const warnings: string[] = [];
  bus.subscribe((e) => e.type === 'warning' && warnings.push(e.message));
  for (let port = 60001; port < 60100; port++) {
    try {
      const fwd = await startForward({ kind: 'dynamic', text: String(port) }, unused, { bus });
      fwd.destroy();
      assert.match(warnings[0] ?? '', /ephemeral/);
      return;
    } catch (e) {
      if (!isBurrowError(e, 'PORT_IN_USE')) throw e;
    }
  }
  assert.fail('no free port in 60001-60099');
});

test('start() twice is a usage error; an aborted signal stops start', async () => {
  const fwd = await startForward({ kind: 'dynamic', text: '0' }, unused);
  await assert.rejects(fwd.start(), (e: unknown) => isBurrowError(e, 'USAGE'));
  await fwd.close();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(startForward({ kind: 'dynamic', text: '0' }, unused, { signal: ac.signal }), (e: unknown) => isBurrowError(e, 'ABORTED'));
});

test('an explicit [::1] bind listens there only, and the label says so', async () => {
  const fwd = await startForward({ kind: 'local', text: '[::1]:0:node7:8888' }, unused);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  assert.deepEqual(addr.hosts, ['::1']);
  assert.equal(fwd.label, `[::1]:${addr.port} → node7:8888 via nowhere`);
  await fwd.close();
});
