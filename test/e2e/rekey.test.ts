/**
 * Key re-exchange under load: sshd renegotiates keys every MiB (RekeyLimit) while a
 * forward carries 48 MiB each way. Stock ssh2 let a channel packet out with a broken
 * header while our NEWKEYS waited for an asynchronous host-key check (sshd: "Bad packet
 * length 1577058304", i.e. 0x5E = CHANNEL_DATA where the length belongs), which killed
 * the connection. OpenSSH's chacha20-poly1305 rekeys every GiB by default, so any long
 * upload met it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { echoServer, roundTrip, sha256, randomBytes } from '../helpers/net.js';
import { runBurrow, listenPort } from '../helpers/cli.js';

let sshd: Sshd;
let echo: Awaited<ReturnType<typeof echoServer>>;
before(async () => {
  sshd = await startSshd({ extraConfig: ['RekeyLimit 1M', 'LogLevel DEBUG1'] });
  echo = await echoServer();
});
after(async () => {
  await sshd?.stop();
  await echo?.close();
});

for (const cipher of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
  test(`${cipher}: 48 MiB each way through -L while sshd rekeys every MiB, intact, on one connection`, async () => {
    const before = sshd.log().length;
    const r = runBurrow(['-F', sshd.sshConfigFile, '-c', cipher, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
    try {
      const port = listenPort(await r.waitFor(/127\.0\.0\.1:\d+ → /));
      await r.waitFor('test-sshd: connected');
      const payload = randomBytes(48 << 20);
      const back = await roundTrip(net.connect(port, '127.0.0.1'), payload);
      assert.equal(sha256(back), sha256(payload));
      assert.doesNotMatch(r.stderr(), /reconnecting|lost/);
      assert.doesNotMatch(sshd.log().slice(before), /Bad packet length|Corrupted|message authentication code incorrect/);
      // Each key exchange logs its cipher: the transfer did run through many of them.
      const kexes = (sshd.log().slice(before).match(new RegExp(`kex: client->server cipher: ${cipher}`, 'g')) ?? []).length;
      assert.ok(kexes > 20, `only ${kexes} key exchanges`);
    } finally {
      r.child.kill('SIGINT');
      await r.exited;
    }
  });
}
