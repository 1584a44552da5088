/**
 * Tunnels that survive: the server's connection killed, sshd restarted, auth refused on
 * reconnect, the client process stopped past the server's patience. Each checks bytes
 * (sha256) and that the same local port keeps working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSshd, freePort, descendants } from '../helpers/sshd.js';
import { echoServer, quietSource, roundTrip, sha256, randomBytes } from '../helpers/net.js';
import { runBurrow, forwardPort, listenPort } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

const accepted = (log: string[]) => log.filter((l) => l.includes('Accepted publickey')).length;

/**
 * Reads from a quiet source (`quietSource`) and reports how the connection ended;
 * `drained` resolves once all `size` bytes arrived (the client has nothing unread).
 */
function transfer(port: number, size: number): { sock: net.Socket; drained: Promise<void>; outcome: Promise<{ received: number; how: 'end' | 'error' }> } {
  const sock = net.connect(port, '127.0.0.1');
  let received = 0;
  let drainedResolve!: () => void;
  const drained = new Promise<void>((r) => (drainedResolve = r));
  const outcome = new Promise<{ received: number; how: 'end' | 'error' }>((resolve) => {
    sock.on('data', (d: Buffer) => {
      received += d.length;
      if (received === size) drainedResolve();
    });
    sock.on('end', () => resolve({ received, how: 'end' }));
    sock.on('error', () => resolve({ received, how: 'error' }));
  });
  return { sock, drained, outcome };
}

test('connection killed mid-transfer: the transfer fails visibly, burrow reconnects, the same port works', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const size = 4 << 20;
  const source = await quietSource(size);
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, '-L', `0:127.0.0.1:${source.port}`, 'test-sshd']);
  try {
    const port = await forwardPort(r);
    const sourcePort = listenPort(await r.waitFor(new RegExp(`127\\.0\\.0\\.1:\\d+ → 127\\.0\\.0\\.1:${source.port}`)));
    await r.waitFor('test-sshd: connected');
    // 4 MiB moved and read; the server keeps the connection open: a transfer in flight.
    const t = transfer(sourcePort, size);
    await t.drained;
    sshd.killConnections();
    const { how } = await t.outcome;
    assert.equal(how, 'error', `a cut transfer must not look complete (client port ${t.sock.localPort}; burrow said:\n${r.stderr()})`);
    await r.waitFor('reconnecting');
    const payload = randomBytes(4 << 20);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
    assert.equal(accepted(sshd.authAttempts()), 2);
    r.child.kill('SIGINT');
    assert.equal((await r.exited).code, 0);
  } finally {
    r.child.kill('SIGKILL');
    await sshd.stop();
    await echo.close();
    await source.close();
  }
});

test('sshd restarted: a client arriving while it is down waits and gets through', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    const port = await forwardPort(r);
    await r.waitFor('test-sshd: connected');
    await sshd.pause();
    await r.waitFor('reconnecting');
    const payload = randomBytes(1 << 20);
    const pending = roundTrip(net.connect(port, '127.0.0.1'), payload);
    await sshd.restart();
    assert.equal(sha256(await pending), sha256(payload));
  } finally {
    await r.stop();
    await sshd.stop();
    await echo.close();
  }
});

/** Tries 1 MiB through the server's `port` every 100 ms until it arrives intact; fails with the last error after `ms`. */
async function comesBack(port: number, ms: number): Promise<void> {
  const payload = randomBytes(1 << 20);
  let lastError: unknown;
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    try {
      assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
      return;
    } catch (e) {
      lastError = e;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  assert.fail(`the -R forward did not come back: ${String(lastError)}`);
}

test('remote forwards are requested again after a reconnect', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const remotePort = await freePort();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-R', `${remotePort}:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    await r.waitFor(`:${remotePort} on test-sshd`);
    sshd.killConnections();
    await until('a second accepted publickey login', () => accepted(sshd.authAttempts()) === 2);
    // The server's listener comes back with the new session (burrow asks for it again
    // right after logging in).
    await comesBack(remotePort, 10_000);
  } finally {
    await r.stop();
    await sshd.stop();
    await echo.close();
  }
});

test('a remote forward refused after a reconnect (the server still holds the port for the lost connection) is asked for until granted', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const remotePort = await freePort();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2', '-R', `${remotePort}:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    await r.waitFor(`:${remotePort} on test-sshd`);
    // The network goes: the server's side of the connection freezes with its listener,
    // and burrow reconnects to a server that still holds the port.
    const lost = descendants(sshd.process.pid as number);
    assert.ok(sshd.freezeConnections() > 0);
    await until('burrow to say it asks again for the refused -R', () => /refused -R .* after the reconnect.*asking again/.test(r.stderr()));
    // The server notices the lost connection at last: its listener goes.
    for (const pid of lost) process.kill(pid, 'SIGKILL');
    await comesBack(remotePort, 30_000);
    assert.equal(r.child.exitCode, null, 'burrow is still running');
  } finally {
    await r.stop();
    await sshd.stop();
    await echo.close();
  }
});

test('authentication refused on reconnect: one attempt, a clear error, exit 255', async () => {
  const sshd = await startSshd();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-D', '0', 'test-sshd']);
  try {
    await r.waitFor('test-sshd: connected');
    writeFileSync(join(sshd.dir, 'authorized_keys'), '');
    const before = sshd.authAttempts().length;
    sshd.killConnections();
    const { code } = await r.exited;
    assert.equal(code, 255);
    assert.match(r.stderr(), /permission denied/);
    const failed = sshd.authAttempts().slice(before).filter((l) => l.includes('Failed'));
    assert.ok(failed.length <= 1, `at most one refused attempt, saw ${failed.length}`);
    assert.equal(accepted(sshd.authAttempts()), 1);
  } finally {
    r.child.kill('SIGKILL');
    await sshd.stop();
  }
});

test('a connection opened while the server hangs is carried by the next connection once that one dies', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    const port = await forwardPort(r);
    await r.waitFor('test-sshd: connected');
    assert.ok(sshd.freezeConnections() > 0);
    const payload = randomBytes(1 << 20);
    const got = roundTrip(net.connect(port, '127.0.0.1'), payload);
    // burrow asks the frozen server for a channel and gets no answer; then that
    // connection dies. The open is no refusal: it goes to the next connection.
    await new Promise((res) => setTimeout(res, 500));
    sshd.killConnections();
    assert.equal(sha256(await got), sha256(payload));
    await r.waitFor('reconnecting');
    assert.equal(accepted(sshd.authAttempts()), 2);
  } finally {
    r.child.kill('SIGINT');
    await r.exited;
    await sshd.stop();
    await echo.close();
  }
});

test('stopped past the server\'s patience (SIGSTOP/SIGCONT): traffic flows again after resume', async () => {
  const sshd = await startSshd({ extraConfig: ['ClientAliveInterval 1', 'ClientAliveCountMax 1'] });
  const echo = await echoServer();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-o', 'ServerAliveInterval=2', '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    const port = await forwardPort(r);
    await r.waitFor('test-sshd: connected');
    r.child.kill('SIGSTOP');
    // sshd gives up on the silent client after about 2 s; wait until its session is gone.
    await until('sshd to log "Timeout, client not responding"', () => /Timeout, client not responding/.test(sshd.log()));
    r.child.kill('SIGCONT');
    const payload = randomBytes(1 << 20);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
  } finally {
    r.child.kill('SIGCONT');
    r.child.kill('SIGINT');
    await r.exited;
    await sshd.stop();
    await echo.close();
  }
});

test('a jump host lost while the target is quiet mid-transfer: the client gets a reset, not a clean end', async () => {
  const jump = await startSshd();
  const target = await startSshd();
  // The server sends 64 KiB and then holds the connection open: a transfer in flight.
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write(Buffer.alloc(64 << 10, 7));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port: serverPort } = server.address() as net.AddressInfo;
  const cfg = join(target.dir, 'config-pj');
  const { readFileSync } = await import('node:fs');
  writeFileSync(cfg, readFileSync(target.sshConfigFile, 'utf8') + readFileSync(jump.sshConfigFile, 'utf8').replace('Host test-sshd', 'Host jumphost'));
  const r = runBurrow(['-F', cfg, '-J', 'jumphost', '-N', '-L', `0:127.0.0.1:${serverPort}`, 'test-sshd']);
  try {
    const port = await forwardPort(r);
    await r.waitFor('test-sshd: connected');
    const sock = net.connect(port, '127.0.0.1');
    let received = 0;
    const outcome = new Promise<'end' | 'error'>((resolve) => {
      sock.on('data', (d: Buffer) => {
        received += d.length;
        if (received === 64 << 10) jump.killConnections();
      });
      sock.on('end', () => resolve('end'));
      sock.on('error', () => resolve('error'));
    });
    assert.equal(await outcome, 'error');
  } finally {
    await r.stop();
    await jump.stop();
    await target.stop();
    server.close();
  }
});
