/**
 * The native receive loop (src/ssh/native-rx.ts, native/rx-loop.c) through a real sshd
 * that renegotiates keys every MiB: the loop hands back at each KEXINIT and starts again
 * on the new keys; a reader that stops makes the loop hold a channel's bytes, and an EOF
 * behind them makes it let go of the sink; a stalled reader holds up only its own channel.
 * The loop naps after large reads that emptied the socket, through the key exchanges too.
 * Whatever the path, every byte arrives intact and in order. The window adjusts are sealed
 * natively (src/ssh/native-tx.ts): sshd checks each one's tag, and ends the connection at
 * one sealed with the wrong key or IV, or sent during a key exchange.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRxCounters } from '../../src/ssh/native-rx.js';
import { installNativeTx, nativeTxCounters } from '../../src/ssh/native-tx.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { connectOpener, type Ssh2Opener } from './ssh2-opener.js';
import { MiB, connect, forwardToTarget, random, receive, receiveStopping, sha256 } from './util.js';

let sshd: Sshd;
let opener: Ssh2Opener;
const down = random(24 * MiB);
const downHash = sha256(down);

before(async () => {
  sshd = await startSshd({ extraConfig: ['RekeyLimit 1M', 'Ciphers aes128-gcm@openssh.com'] });
  assert.ok(installNativeTx(), 'the native send addon is built');
  opener = await connectOpener(sshd);
});
after(async () => {
  opener?.end();
  await sshd?.stop();
});

test('-L downloads through the native loop while sshd rekeys every MiB: fast and stopping readers, intact', async (t) => {
  const { fwd, port } = await forwardToTarget(t, opener, down);
  const { started, bytes, reports, naps } = nativeRxCounters;
  const { adjusts, adjustsDirect } = nativeTxCounters;
  const [fast, slow1, slow2] = await Promise.all([1, 2, 3].map(() => connect({ host: '127.0.0.1', port })));
  for (const s of [fast!, slow1!, slow2!]) s.end();
  const results = await Promise.all([receive(fast!), receiveStopping(slow1!, 256 * 1024), receiveStopping(slow2!, 256 * 1024)]);
  for (const got of results) {
    assert.equal(got.length, down.length);
    assert.equal(got.hash, downHash);
  }
  assert.equal(fwd.stats.bytesIn, 3 * down.length);
  t.diagnostic(`loop started ${nativeRxCounters.started - started} times, carried ${nativeRxCounters.bytes - bytes} of ${3 * down.length} bytes in ${nativeRxCounters.reports - reports} reports, napped ${nativeRxCounters.naps - naps} times; ${nativeTxCounters.adjusts - adjusts} window adjusts sealed natively, ${nativeTxCounters.adjustsDirect - adjustsDirect} sent straight to the socket`);
  // 72 MiB at a key exchange per MiB: the loop let go at each and took over again.
  assert.ok(nativeRxCounters.started - started > 10, `the loop started ${nativeRxCounters.started - started} times`);
  assert.ok(nativeRxCounters.bytes - bytes > down.length, `the loop carried ${nativeRxCounters.bytes - bytes} bytes`);
  assert.ok(nativeRxCounters.naps > naps, 'the loop never napped after a large read');
  // 72 MiB through 2 MiB windows or more takes at least 36 adjusts: all but those made
  // during a key exchange (ssh2 queues them) were sealed here, under some 70 keys.
  assert.ok(nativeTxCounters.adjusts - adjusts > 36, `${nativeTxCounters.adjusts - adjusts} window adjusts sealed natively`);
  assert.ok(nativeTxCounters.adjustsDirect > adjustsDirect, 'no window adjust went straight to the socket');
});

test('a reader that stopped holds up its own channel only: another download on the connection completes', async (t) => {
  const { port } = await forwardToTarget(t, opener, down);
  const stalled = await connect({ host: '127.0.0.1', port });
  stalled.pause();
  stalled.end();
  // Let its channel's window fill: the server stops sending to it, the loop holds the rest.
  await new Promise((r) => setTimeout(r, 300));
  const other = await connect({ host: '127.0.0.1', port });
  other.end();
  const got = await receive(other);
  assert.equal(got.length, down.length);
  assert.equal(got.hash, downHash);
  const rest = receive(stalled);
  stalled.resume();
  const late = await rest;
  assert.equal(late.length, down.length);
  assert.equal(late.hash, downHash);
});
