import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { joinConn } from './conn-join.js';
import { closeServer, listenTcp } from './listen.js';
import { connCounters, type Conn } from './conn.js';
import type { Join } from './pipe.js';
import type { Link } from '../ssh/link.js';
import { TRANSPORT_HIGH_WATER } from '../ssh/transport-turns.js';
import { still, until } from '../../test/helpers/wait.js';
import { TransportLink, fakeTransport } from '../../test/helpers/transport-channel.js';

test('accepted connections sending into a congested SSH transport: a few read one chunk, the rest nothing; once it drains, every byte arrives', async (t) => {
  const transport = fakeTransport(2 * TRANSPORT_HIGH_WATER);
  let joined: ((c: { link: TransportLink; join: Join }) => void) | undefined;
  // Joined as it is accepted, before it could read anything early (conn.ts).
  const servers = await listenTcp({ type: 'loopback' }, 0, {
    backlog: 64,
    onConnection: (s) => {
      s.destroy();
      assert.fail('accepted as a socket');
    },
    onConn: (conn: Conn) => {
      const link = new TransportLink(transport);
      joined?.({ link, join: joinConn(conn, link as unknown as Link) });
    },
  });
  const port = (servers[0]?.address() as net.AddressInfo).port;
  const conns: { client: net.Socket; link: TransportLink; join: Join; data: Buffer }[] = [];
  t.after(async () => {
    for (const c of conns) {
      c.join.destroy();
      c.client.destroy();
    }
    await Promise.all(servers.map(closeServer));
  });
  const read0 = connCounters.bytesRead;
  for (let i = 0; i < 24; i++) {
    const got = new Promise<{ link: TransportLink; join: Join }>((r) => (joined = r));
    const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    client.on('error', () => {});
    await once(client, 'connect');
    const data = randomBytes(1024 * 1024);
    conns.push({ client, data, ...(await got) });
    client.end(data);
  }
  await still('the clients sending while the transport is congested', () => conns.reduce((n, c) => n + c.client.writableLength, 0), 250);
  // 16 turns while congested (transport-turns.ts), a chunk (64 KiB at most) read with
  // each; the rest wait in the kernel (without turns, each of the 24 read a chunk).
  const read = connCounters.bytesRead - read0;
  assert.ok(read > 0 && read <= 16 * 64 * 1024, `read while the transport was congested: ${read} bytes`);
  for (const c of conns) assert.ok(c.link.length <= 64 * 1024, `sent while the transport was congested: ${c.link.length}`);
  transport.writableLength = 0;
  transport.emit('drain');
  await until('every byte through its link or channel', () => conns.every((c) => c.link.length >= c.data.length));
  for (const c of conns) assert.equal(c.link.hash.digest('hex'), createHash('sha256').update(c.data).digest('hex'));
});
