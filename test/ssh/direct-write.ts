/**
 * The SSH connection's lone packets written straight to the kernel (the ssh2 patch's
 * `[direct write]`, src/ssh/transport.ts), through a real sshd that renegotiates keys
 * every 1 MiB: sshd checks every packet's tag and order, so a packet written out of
 * order with what Node still holds, or a part of one lost, ends the connection. Short
 * request/reply connections (a link's open, data, EOF and CLOSE) and a bulk upload and
 * download on the same connection must arrive intact, with each cipher.
 *
 * The test files choose with BURROW_DIRECT_WRITE_CAP before this module loads burrow's:
 * with a cap, the kernel takes only the first bytes of each packet and Node's write the
 * rest, as with a nearly full socket buffer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { Session } from '../../src/ssh/session.js';
import { directWriteCounters } from '../../src/ssh/transport.js';
import { sshdConfig } from '../helpers/config.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { MiB, connect, exchange, random, sha256, startTarget } from '../forward/util.js';

export function directWriteTests(partial: boolean): void {
  let sshd: Sshd;

  before(async () => {
    sshd = await startSshd({ extraConfig: ['RekeyLimit 1M', 'LogLevel DEBUG1'] });
  });
  after(async () => {
    await sshd?.stop();
  });

  for (const cipher of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
    test(`${cipher}: 100 short connections and a 4 MiB upload and download, written ${partial ? 'partly ' : ''}straight to the socket across key exchanges, arrive intact`, { timeout: 60_000 }, async (t) => {
      const session = await Session.connect({ config: sshdConfig(sshd, { ciphers: [cipher] }) });
      const down = random(4 * MiB);
      const short = await startTarget(Buffer.from('ok'));
      const bulk = await startTarget(down);
      const fwds = await Promise.all([short, bulk].map((x) => startForward(parseForwardSpec('local', `0:127.0.0.1:${x.port}`), session)));
      t.after(async () => {
        for (const f of fwds) await f.close();
        await short.close();
        await bulk.close();
        await session.close();
      });
      const portOf = (f: (typeof fwds)[number]): number => {
        const a = f.address();
        assert.ok(a?.type === 'tcp');
        return a.port;
      };
      const shortPort = portOf(fwds[0]!);
      const bulkPort = portOf(fwds[1]!);
      const log = sshd.log().length;
      const before = { ...directWriteCounters };

      const up = random(4 * MiB);
      const transfer = (async () => {
        const s = await connect({ host: '127.0.0.1', port: bulkPort });
        return exchange(s, up);
      })();
      const requests: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        const req = random(1 + (i % 200));
        requests.push(req);
        const s = await connect({ host: '127.0.0.1', port: shortPort });
        const reply = await exchange(s, req);
        assert.equal(reply.hash, sha256(Buffer.from('ok')), `reply ${i}`);
      }
      const got = await transfer;
      assert.equal(got.length, down.length);
      assert.equal(got.hash, sha256(down), 'the download arrived intact');
      await short.waitReceived(requests.length);
      await bulk.waitReceived(1);
      assert.deepEqual(short.received.map((r) => r.hash).sort(), requests.map(sha256).sort(), 'every request arrived intact');
      assert.equal(bulk.received[0]?.hash, sha256(up), 'the upload arrived intact');

      const packets = directWriteCounters.packets - before.packets;
      const partly = directWriteCounters.partial - before.partial;
      const kexes = (sshd.log().slice(log).match(/kex: client->server cipher/g) ?? []).length;
      t.diagnostic(`${packets} packets written straight to the socket (${partly} partly), ${kexes} key exchanges`);
      // Each short connection's open, request, EOF and CLOSE: most of them went straight.
      assert.ok(packets >= 200, `only ${packets} packets written straight to the socket`);
      if (partial) assert.ok(partly >= 200, `only ${partly} packets written partly`);
      assert.ok(kexes >= 2, `only ${kexes} key exchanges`);
      assert.doesNotMatch(sshd.log().slice(log), /Bad packet length|Corrupted|message authentication code incorrect|padding error/);
    });
  }
}
