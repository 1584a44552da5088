/**
 * A channel's outgoing data sealed in native code, through a real sshd that
 * renegotiates keys every 16 MiB: sshd checks every packet's tag, so a packet sealed
 * with the wrong IV or key, or one sent during a key exchange, or out of order with
 * ssh2's own packets, ends the connection. Uploads through `-L` and a download through
 * `-R` (burrow sends what the local target gives it), several at once, must arrive
 * intact, with most of their bytes sent the way under test:
 *
 * - `seal`: each write of a Channel sealed in one call (src/ssh/native-tx.ts,
 *   native/tx-seal.c), the pump off (native-tx.test.ts);
 * - `pump`: the local socket read and sent by native code (src/ssh/native-pump.ts,
 *   native/tx-pump.c), ssh2's Channel told per read (native-pump.test.ts).
 *
 * The test files choose with BURROW_NO_PUMP before this module loads burrow's.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startForward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { Session } from '../../src/ssh/session.js';
import { nativeTxCounters } from '../../src/ssh/native-tx.js';
import { pumpCounters } from '../../src/ssh/native-pump.js';
import { nativeRxCounters } from '../../src/ssh/native-rx.js';
import { sshdConfig } from '../helpers/config.js';
import { until } from '../helpers/wait.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { MiB, connect, exchange, random, receive, sha256, startTarget, type Target } from './util.js';

export type SendPath = 'seal' | 'pump';

/** Bytes sent by `path` so far. */
const sentBy = (path: SendPath): number => (path === 'seal' ? nativeTxCounters.bytes : pumpCounters.bytes);

/** The tests, for sends by `path`. */
export function nativeSendTests(path: SendPath): void {
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

  test(`-L (${path}): four 16 MiB uploads at once, sent natively while sshd rekeys every 16 MiB, arrive intact`, async (t) => {
    const target = await startTarget(Buffer.from('ok'));
    const port = await forwardTo(t, 'local', target);
    const log = sshd.log().length;
    const before = { ...nativeTxCounters };
    const pumped = { ...pumpCounters };
    const pulses = nativeRxCounters.pumpPulses;
    const ups = Array.from({ length: 4 }, () => random(16 * MiB));
    const sockets = await Promise.all(ups.map(() => connect({ host: '127.0.0.1', port })));
    const replies = await Promise.all(sockets.map((s, i) => exchange(s, ups[i] as Buffer)));
    for (const r of replies) assert.equal(r.length, 2);
    await target.waitReceived(ups.length);
    assert.deepEqual(target.received.map((r) => r.hash).sort(), ups.map(sha256).sort(), 'every upload arrived intact');
    const sealed = nativeTxCounters.bytes - before.bytes;
    const pump = pumpCounters.bytes - pumped.bytes;
    t.diagnostic(`sealed ${sealed} of ${64 * MiB} bytes in ${nativeTxCounters.writes - before.writes} writes, pumped ${pump} in ${pumpCounters.reads - pumped.reads} reads (${pumpCounters.declined - pumped.declined} handed back), across ${kexes(log)} key exchanges`);
    // What the channels wrote during a key exchange waited in ssh2's queue, as packets
    // made one by one (sshd counts them towards its next rekey); the rest was sent
    // natively, under each of the keys.
    const sent = path === 'seal' ? sealed : pump;
    assert.ok(sent > 24 * MiB, `only ${sent} bytes sent by ${path}`);
    if (path === 'seal') {
      assert.equal(pump, 0, 'the pump is off');
      assert.ok(nativeTxCounters.direct > before.direct, 'no write went straight to the socket');
    } else {
      assert.ok(pumpCounters.started - pumped.started >= 4, 'every upload was pumped');
      // The receive loop ran during the uploads and gave the pumps sshd's window adjusts.
      assert.ok(nativeRxCounters.pumpPulses > pulses, 'no window adjust reached a pump from the receive loop');
    }
    assert.ok(kexes(log) >= 2, `only ${kexes(log)} key exchanges`);
    assert.doesNotMatch(sshd.log().slice(log), /Bad packet length|Corrupted|message authentication code incorrect/);
  });

  test(`-R (${path}): a 32 MiB download from the local target, sent natively, arrives intact`, async (t) => {
    const down = random(32 * MiB);
    const port = await forwardTo(t, 'remote', await startTarget(down));
    const before = sentBy(path);
    const pulses = nativeRxCounters.pumpPulses;
    const s = await connect({ host: '127.0.0.1', port });
    s.end();
    const got = await receive(s);
    assert.equal(got.length, down.length);
    assert.equal(got.hash, sha256(down));
    assert.ok(sentBy(path) - before > 16 * MiB, `only ${sentBy(path) - before} bytes sent by ${path}`);
    // sshd numbers a channel it opens differently from burrow: the loop must find the
    // pump by burrow's number, the one sshd's window adjusts name.
    if (path === 'pump') assert.ok(nativeRxCounters.pumpPulses > pulses, 'no window adjust reached the pump from the receive loop');
  });

  if (path !== 'pump') return;

  test('a client that resets while its pump waits for window is let go, and the forward serves on', async (t) => {
    // An sshd of its own, that does not rekey: at a key exchange the pump hands the socket
    // back to Node, which does not read it while the window is shut (nor does OpenSSH's
    // client): a reset would then wait for the window, which a mute target never opens.
    const quiet = await startSshd();
    const session = await Session.connect({ config: sshdConfig(quiet, { ciphers: [CIPHER] }) });
    t.after(async () => {
      await session.close();
      await quiet.stop();
    });
    // A target that takes nothing: the channel's window shuts with the upload under way.
    const held = new Set<net.Socket>();
    const mute = net.createServer((c) => {
      held.add(c);
      c.pause();
    });
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const c of held) c.destroy();
      mute.close();
    });
    const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${(mute.address() as net.AddressInfo).port}`), session);
    t.after(() => fwd.destroy());
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    const { started, declined } = pumpCounters;
    const s = await connect({ host: '127.0.0.1', port: addr.port });
    s.on('error', () => {});
    s.write(random(16 * MiB));
    await until('the upload pumped, its window shut', () => pumpCounters.started > started && fwd.stats.bytesOut >= 2 * MiB);
    assert.equal(pumpCounters.declined, declined, 'the pump kept the socket');
    s.resetAndDestroy();
    // Node does not read a pumped socket: the pump must notice the reset though it is not reading.
    await until('the reset client let go', () => fwd.stats.active === 0);
    const target = await startTarget(Buffer.from('ok'));
    t.after(() => target.close());
    const again = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), session);
    t.after(() => again.close());
    const at = again.address();
    assert.ok(at?.type === 'tcp');
    const port = at.port;
    const up = random(8 * MiB);
    assert.equal((await exchange(await connect({ host: '127.0.0.1', port }), up)).length, 2);
    await target.waitReceived(1);
    assert.equal(target.received[0]?.hash, sha256(up));
  });
}
