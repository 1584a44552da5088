/**
 * The CLI collects garbage when it is idle, not on V8's memory reducer's clock
 * (src/runtime/idle-gc.ts): read from `node --trace-gc`, where V8 names the collections
 * `gc()` makes "testing" and the reducer's "Mark-Compact (reduce)".
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
  sshd = await startSshd();
  echo = await echoServer();
});
after(async () => {
  await sshd?.stop();
  await echo?.close();
});

test('after a transfer, an idle forwarder collects its garbage itself; V8 memory reducer does not run', { timeout: 60_000 }, async () => {
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd'], { nodeArgs: ['--trace-gc'] });
  try {
    const port = listenPort(await r.waitFor(/127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ via test-sshd/));
    const payload = randomBytes(16 << 20);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
    // Idle from here: within an interval or two (5 s each) burrow makes a full collection.
    // V8 would run its reducer 8 s after its start-up collection, in the same quiet.
    const first = await r.waitFor(/Mark-Compact \(reduce\)|Mark-Compact.*testing/);
    assert.doesNotMatch(first, /reduce/, "V8's memory reducer ran");
    assert.doesNotMatch(r.stdout(), /Mark-Compact \(reduce\)/);
  } finally {
    await r.stop();
  }
  assert.equal((await r.exited).code, 0);
});
