/**
 * dial.ts: a `-R` target's connection as a Conn, in `net.connect`'s order of
 * addresses, and through a real `-R` forward (a Session, OpenSSH's sshd) to a target
 * named `localhost`, as users write it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type dns from 'node:dns';
import { dial, dialSupport, type LookupAll } from '../../src/forward/dial.js';
import { connCounters, type Conn } from '../../src/forward/conn.js';
import { startForward } from '../../src/forward/index.js';
import { Session } from '../../src/ssh/session.js';
import { startSshd, freePort, type Sshd } from '../helpers/sshd.js';
import { sshdConfig } from '../helpers/config.js';
import { MiB, canBind, connect, random, roundTrip, sha256, startTarget } from './util.js';

let sshd: Sshd;
let session: Session;
before(async () => {
  sshd = await startSshd();
  session = await Session.connect({ config: sshdConfig(sshd) });
});
after(async () => {
  await session?.close();
  await sshd?.stop();
});

/** Dials, then (connected) sends `up`, ends, and reads the reply to its end. */
function dialExchange(host: string, port: number, up: Buffer, lookup?: LookupAll): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn: Conn = dial(
      host,
      port,
      (err) => {
        if (err) {
          reject(err);
          return;
        }
        conn.start({
          data: (c) => chunks.push(c),
          end: () => {
            const all = Buffer.concat(chunks);
            conn.destroy();
            resolve({ hash: sha256(all), length: all.length });
          },
          finish: () => {},
          error: reject,
        });
        conn.write(up);
        conn.end();
      },
      lookup,
    );
  });
}

/** A lookup that answers `addresses` for any name, and records what it was asked. */
function fakeLookup(addresses: dns.LookupAddress[], asked: string[]): LookupAll {
  return (host, _opts, cb) => {
    asked.push(host);
    setImmediate(() => cb(null, addresses));
  };
}

test('this Node can dial', () => {
  assert.equal(dialSupport(), true);
});

test('an address: the bytes both ways, intact, over a Conn that was dialed', async () => {
  const down = random(256 * 1024);
  const up = random(100_000);
  const target = await startTarget(down);
  const dialed = connCounters.dialed;
  try {
    const got = await dialExchange('127.0.0.1', target.port, up);
    assert.equal(got.hash, sha256(down));
    await target.waitReceived(1);
    assert.equal(target.received[0]?.hash, sha256(up));
    assert.equal(connCounters.dialed, dialed + 1);
  } finally {
    await target.close();
  }
});

test("a name: its addresses in turn, as net.connect takes them, past one that refuses", async () => {
  const down = random(4096);
  const target = await startTarget(down); // on 127.0.0.1 only
  const asked: string[] = [];
  try {
    // Nothing listens on 127.0.0.2 (the target is bound to 127.0.0.1): refused, then the next.
    const lookup = fakeLookup(
      [
        { address: '127.0.0.2', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
      asked,
    );
    const got = await dialExchange('cluster-app.example', target.port, Buffer.from('hi'), lookup);
    assert.equal(got.hash, sha256(down));
    assert.deepEqual(asked, ['cluster-app.example']);
  } finally {
    await target.close();
  }
});

test('a name the resolver does not know, and an address nothing listens on: the error says so, as net.connect would', async () => {
  const port = await freePort();
  await assert.rejects(dialExchange('127.0.0.1', port, Buffer.alloc(1)), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ECONNREFUSED');
    assert.equal(e.message, `connect ECONNREFUSED 127.0.0.1:${port}`);
    return true;
  });
  const unknown: LookupAll = (host, _opts, cb) => setImmediate(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []));
  await assert.rejects(dialExchange('no-such-host.invalid', port, Buffer.alloc(1), unknown), { code: 'ENOTFOUND' });
  // Every address refuses: the last one's error.
  const both = fakeLookup(
    [
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.3', family: 4 },
    ],
    [],
  );
  await assert.rejects(dialExchange('app', port, Buffer.alloc(1), both), { message: `connect ECONNREFUSED 127.0.0.3:${port}` });
});

test('destroyed while it connects: done once, with ECANCELED, and nothing left open', async () => {
  const target = await startTarget(Buffer.alloc(0));
  try {
    for (const host of ['127.0.0.1', 'localhost']) {
      const calls: (Error | undefined)[] = [];
      const conn = dial(host, target.port, (err) => calls.push(err));
      conn.destroy();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls.length, 1, host);
      assert.equal((calls[0] as NodeJS.ErrnoException | undefined)?.code, 'ECANCELED', host);
      assert.equal(conn.closed, true);
    }
  } finally {
    await target.close();
  }
});

test('-R to a target named localhost: each connection a dialed Conn, 8 MiB both ways intact, a refused one counted', async () => {
  const down = random(8 * MiB);
  const up = random(8 * MiB);
  const target = await startTarget(down);
  const port = await freePort();
  const fwd = await startForward({ kind: 'remote', text: `${port}:localhost:${target.port}` }, session);
  const dialed = connCounters.dialed;
  try {
    for (let i = 0; i < 3; i++) await roundTrip(await connect({ host: '127.0.0.1', port }), up, down, target, i);
    assert.equal(connCounters.dialed, dialed + 3);
    assert.equal(fwd.stats.failed, 0);
    await target.close();
    // The service is gone: sshd's connection is cut, the failure counted, the forward goes on.
    const s = await connect({ host: '127.0.0.1', port });
    await new Promise((r) => s.on('end', r).on('close', r).on('error', () => {}).resume());
    s.destroy();
    assert.equal(fwd.stats.failed, 1);
    assert.equal(fwd.stats.active, 0);
  } finally {
    await fwd.close();
    await target.close().catch(() => {});
  }
  // The forward's port on the server is free again.
  assert.equal(await canBind(port, '127.0.0.1'), true);
});
