/**
 * Outgoing channel data sealed in native code (src/ssh/native-tx.ts, native/tx-seal.c)
 * through a real sshd that renegotiates keys every 16 MiB: sshd checks every packet's tag,
 * so a packet sealed with the wrong IV or key, or one sent during a key exchange, or out
 * of order with ssh2's own packets, ends the connection. Uploads through `-L` and a
 * download through `-R` (burrow sends what the local target gives it), several at once,
 * must arrive intact, with most of their bytes sealed natively.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { Session } from '../../src/ssh/session.js';
import { nativeTxCounters } from '../../src/ssh/native-tx.js';
import { sshdConfig } from '../helpers/config.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { MiB, connect, exchange, random, receive, sha256, startTarget, type Target } from './util.js';

const CIPHER = 'aes128-gcm@openssh.com';
let sshd: Sshd;
let session: Session;

before(async () => {
  sshd = await startSshd({ extraConfig: ['RekeyLimit 16M', 'LogLevel DEBUG1'] });
  session = await Session.connect({ config: sshdConfig(sshd, { ciphers: [CIPHER] }) });
});
after(async () => {
  await session?.close();
  await sshd?.stop();
});

/** Key exchanges sshd logged since `from` (it logs the cipher of each). */
const kexes = (from: number): number => (sshd.log().slice(from).match(/kex: client->server cipher: aes128-gcm/g) ?? []).length;

/** A `kind` forward through the session to `target`, closed after the test: its port. */
async function forwardTo(t: TestContext, kind: 'local' | 'remote', target: Target): Promise<number> {
  const fwd = await startForward(parseForwardSpec(kind, `0:127.0.0.1:${target.port}`), session);
  t.after(async () => {
    await fwd.close();
    await target.close();
  });
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  return addr.port;
}

test('-L: four 16 MiB uploads at once, sealed natively while sshd rekeys every 16 MiB, arrive intact', async (t) => {
  const target = await startTarget(Buffer.from('ok'));
  const port = await forwardTo(t, 'local', target);
  const log = sshd.log().length;
  const before = { ...nativeTxCounters };
  const ups = Array.from({ length: 4 }, () => random(16 * MiB));
  const sockets = await Promise.all(ups.map(() => connect({ host: '127.0.0.1', port })));
  const replies = await Promise.all(sockets.map((s, i) => exchange(s, ups[i] as Buffer)));
  for (const r of replies) assert.equal(r.length, 2);
  await target.waitReceived(ups.length);
  assert.deepEqual(target.received.map((r) => r.hash).sort(), ups.map(sha256).sort(), 'every upload arrived intact');
  const sealed = nativeTxCounters.bytes - before.bytes;
  t.diagnostic(`sealed ${sealed} of ${64 * MiB} bytes in ${nativeTxCounters.writes - before.writes} writes, across ${kexes(log)} key exchanges`);
  // What the channels wrote during a key exchange waited in ssh2's queue, as packets
  // made one by one (sshd counts them towards its next rekey); the rest was sealed here,
  // under each of the keys.
  assert.ok(sealed > 24 * MiB, `only ${sealed} bytes sealed natively`);
  assert.ok(nativeTxCounters.direct > before.direct, 'no write went straight to the socket');
  assert.ok(kexes(log) >= 2, `only ${kexes(log)} key exchanges`);
  assert.doesNotMatch(sshd.log().slice(log), /Bad packet length|Corrupted|message authentication code incorrect/);
});

test('-R: a 32 MiB download from the local target, sealed natively, arrives intact', async (t) => {
  const down = random(32 * MiB);
  const port = await forwardTo(t, 'remote', await startTarget(down));
  const before = nativeTxCounters.bytes;
  const s = await connect({ host: '127.0.0.1', port });
  s.end();
  const got = await receive(s);
  assert.equal(got.length, down.length);
  assert.equal(got.hash, sha256(down));
  assert.ok(nativeTxCounters.bytes - before > 16 * MiB, `only ${nativeTxCounters.bytes - before} bytes sealed natively`);
});
