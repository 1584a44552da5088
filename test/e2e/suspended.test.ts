/**
 * Connections that come and go while burrow is not taking them (stopped here with
 * SIGSTOP, as a suspended or overloaded process would be): the kernel completes them on
 * burrow's listeners and queues them. One reset by its client while it waited is dead:
 * burrow opens no channel for it. One its client half-closed is not: it is served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startSshd } from '../helpers/sshd.js';
import { echoServer, sha256, randomBytes } from '../helpers/net.js';
import { jsonEvents, jsonListenPort, runBurrow } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

/** Connects, sends `data`, and resets once it is written. Resolves when the socket is closed. */
function resetAfter(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data, () => s.resetAndDestroy()));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

/** Connects, sends `data` and its end, and collects everything that comes back. */
function halfClose(port: number, data: Buffer): { sent: Promise<string>; reply: Promise<Buffer> } {
  const s = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  /** Resolves with where the connection comes from, as burrow's `client-open` names it. */
  const sent = new Promise<string>((resolve) => s.end(data, () => resolve(`127.0.0.1:${s.localPort}`)));
  const reply = new Promise<Buffer>((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  return { sent, reply };
}

const socks5 = (port: number) => Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]);

test('while burrow is stopped: clients that reset get no channel, a half-closed one is served (-L and -D)', { timeout: 60_000 }, async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  let reached = 0;
  echo.server.on('connection', () => reached++);
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '--json', '-L', `0:127.0.0.1:${echo.port}`, '-D', '0', 'test-sshd']);
  const pid = r.child.pid as number;
  try {
    await r.waitFor('"state":"connected"');
    const lport = jsonListenPort(r, 'local');
    const dport = jsonListenPort(r, 'dynamic');
    assert.ok(lport > 0 && dport > 0);

    process.kill(pid, 'SIGSTOP');
    const payload = randomBytes(64 << 10);
    const dead = 20;
    let viaL: ReturnType<typeof halfClose>;
    let viaD: ReturnType<typeof halfClose>;
    let froms: string[];
    try {
      await Promise.all(
        Array.from({ length: dead }, (_, i) => (i % 2 === 0 ? resetAfter(lport, payload) : resetAfter(dport, Buffer.concat([socks5(echo.port), payload])))),
      );
      viaL = halfClose(lport, payload);
      viaD = halfClose(dport, Buffer.concat([socks5(echo.port), payload]));
      froms = await Promise.all([viaL.sent, viaD.sent]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    assert.equal(sha256(await viaL.reply), sha256(payload));
    const d = await viaD.reply;
    // The method selection (2 bytes), the CONNECT reply (10 bytes, 0x00: succeeded), then the echo.
    assert.deepEqual([...d.subarray(0, 4)], [5, 0, 5, 0]);
    assert.equal(sha256(d.subarray(12)), sha256(payload));

    // burrow took the queued connections in order, the dead ones before these two, and
    // says so in order: once it has announced these two, any other is announced too.
    await until('client-open for both half-closed clients', () => froms.every((f) => r.stdout().includes(`"from":"${f}"`)));
    const opened = jsonEvents(r).filter((e) => e.type === 'client-open');
    assert.equal(opened.length, 2, `client-open for ${opened.length} connections: ${JSON.stringify(opened)}`);
    assert.equal(reached, 2);
    assert.equal(r.child.exitCode, null, 'burrow is still running');
  } finally {
    await r.stop();
    await sshd.stop();
    await echo.close();
  }
});
