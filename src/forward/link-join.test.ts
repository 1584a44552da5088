import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { joinLink } from './link-join.js';
import type { Join } from './pipe.js';
import type { Link } from '../ssh/link.js';
import { TRANSPORT_HIGH_WATER, turnHold } from '../ssh/transport-turns.js';
import { still, until } from '../../test/helpers/wait.js';
import { TransportLink, fakeTransport, type FakeTransport } from '../../test/helpers/transport-channel.js';

interface Joined {
  client: net.Socket;
  accepted: net.Socket;
  link: TransportLink;
  join: Join;
  data: Buffer;
}

/**
 * `n` clients of a local listener, each sending 1 MiB; each accepted socket is joined by
 * `joinLink` to a link over `transport` as it is accepted (`paused`: after a pause, as
 * the SOCKS handshake leaves it; `send` false: the caller sends later).
 */
async function joinClients(t: { after(fn: () => Promise<void>): void }, transport: FakeTransport, n: number, paused: boolean, send = true): Promise<Joined[]> {
  let joined: ((c: Omit<Joined, 'client' | 'data'>) => void) | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (accepted) => {
    if (paused) accepted.pause();
    const link = new TransportLink(transport);
    joined?.({ accepted, link, join: joinLink(accepted, link as unknown as Link) });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const out: Joined[] = [];
  t.after(async () => {
    for (const c of out) {
      c.join.destroy();
      c.client.destroy();
    }
    server.close();
    await once(server, 'close');
  });
  for (let i = 0; i < n; i++) {
    const got = new Promise<Omit<Joined, 'client' | 'data'>>((r) => (joined = r));
    const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    client.on('error', () => {});
    await once(client, 'connect');
    const data = randomBytes(1024 * 1024);
    out.push({ client, data, ...(await got) });
    if (send) client.end(data);
  }
  return out;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('local sockets joined to links of a congested SSH transport: at most its turns read, none holds a read; once it drains, every byte arrives', async (t) => {
  const transport = fakeTransport(2 * TRANSPORT_HIGH_WATER);
  const conns = await joinClients(t, transport, 24, false);
  await still('the clients sending while the transport is congested', () => conns.reduce((n, c) => n + c.client.writableLength, 0), 250);
  // 16 turns while congested (transport-turns.ts); the rest wait in the kernel, nothing read.
  const reading = conns.filter((c) => c.accepted.bytesRead > 0).length;
  assert.ok(reading > 0 && reading <= 16, `sockets that read while the transport was congested: ${reading} of 24`);
  for (const c of conns) assert.ok(c.link.length <= 64 * 1024, `sent while the transport was congested: ${c.link.length}`);
  // A read the link could not send went to the Channel it became, not back into the
  // socket, where one read more would join it (pipe.ts, `first`).
  for (const c of conns) assert.equal(c.accepted.readableLength, 0, 'a read waiting in its socket');
  transport.writableLength = 0;
  transport.emit('drain');
  await until('every byte through its link or channel', () => conns.every((c) => c.link.length >= c.data.length));
  for (const c of conns) assert.equal(c.link.hash.digest('hex'), sha(c.data));
});

test('sockets given turns on an empty transport before their peers send: once the data comes into a congested one, no more read than its turns', async (t) => {
  const hold = turnHold.ms;
  turnHold.ms = 60_000; // a turn counts until its socket reads
  t.after(() => void (turnHold.ms = hold));
  const transport = fakeTransport(0);
  const conns = await joinClients(t, transport, 40, false, false);
  // Other channels fill the transport; then every peer sends at once (a thousand `-R`
  // targets connected, whose data comes after their turns).
  transport.writableLength = 2 * TRANSPORT_HIGH_WATER;
  for (const c of conns) c.client.end(c.data);
  await still('the clients sending while the transport is congested', () => conns.reduce((n, c) => n + c.client.writableLength, 0), 250);
  const reading = conns.filter((c) => c.accepted.bytesRead > 0).length;
  assert.ok(reading > 0 && reading <= 16, `sockets that read into the congested transport: ${reading} of 40`);
  transport.writableLength = 0;
  transport.emit('drain');
  await until('every byte through its link or channel', () => conns.every((c) => c.link.length >= c.data.length));
  for (const c of conns) assert.equal(c.link.hash.digest('hex'), sha(c.data));
});

test('a local socket joined to a link with room reads at once, paused before (SOCKS) or not, and every byte arrives', async (t) => {
  const transport = fakeTransport(0);
  const conns = [...(await joinClients(t, transport, 2, false)), ...(await joinClients(t, transport, 2, true))];
  await until('every byte through its link or channel', () => conns.every((c) => c.link.length >= c.data.length));
  for (const c of conns) assert.equal(c.link.hash.digest('hex'), sha(c.data));
});
