import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSshd, keygen, type Sshd } from '../helpers/sshd.js';
import { echoServer, roundTrip, sha256, randomBytes } from '../helpers/net.js';
import { runBurrow, burrow, listenPort } from '../helpers/cli.js';

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

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

test('-N -L forwards bytes intact, prints the forward, and Ctrl-C frees the port', async () => {
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  const line = await r.waitFor(/127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ via test-sshd/);
  const port = listenPort(line);
  const payload = randomBytes(16 << 20);
  const back = await roundTrip(net.connect(port, '127.0.0.1'), payload);
  assert.equal(sha256(back), sha256(payload));
  r.child.kill('SIGINT');
  const { code } = await r.exited;
  assert.equal(code, 0);
  assert.equal(await portFree(port), true);
});

test('-L where Node offers no accepted handles (BURROW_NO_CONN): connections take sockets, small and large exchanges intact', { timeout: 60_000 }, async () => {
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd'], { env: { BURROW_NO_CONN: '1' } });
  const port = listenPort(await r.waitFor(/127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ via test-sshd/));
  for (const size of [1000, 4 << 20]) {
    const payload = randomBytes(size);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload), `${size} bytes`);
  }
  r.child.kill('SIGINT');
  assert.equal((await r.exited).code, 0);
});

test('--json prints one event per line, with the listening forward', async () => {
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '--json', '-D', '0', 'test-sshd']);
  await r.waitFor('"state":"connected"');
  const events = r
    .stdout()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; kind?: string });
  assert.ok(events.some((e) => e.type === 'session-state'));
  assert.ok(events.some((e) => e.type === 'forward-listening' && e.kind === 'dynamic'));
  r.child.kill('SIGINT');
  assert.equal((await r.exited).code, 0);
});

test('runs a remote command and exits with its status', async () => {
  const ok = await burrow(['-F', sshd.sshConfigFile, 'test-sshd', 'echo', 'from-remote']);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout.trim(), 'from-remote');
  const fail = await burrow(['-F', sshd.sshConfigFile, 'test-sshd', 'exit 7']);
  assert.equal(fail.code, 7);
});

test('a named key file that cannot be read is a warning (not with -q), as in ssh; the other keys still log in', async () => {
  const missing = join(sshd.dir, 'no-such-key');
  for (const how of [['-i', missing], ['-o', `IdentityFile=${missing}`]]) {
    const r = await burrow(['-F', sshd.sshConfigFile, ...how, 'test-sshd', 'echo', 'in']);
    assert.equal(r.code, 0, how.join(' '));
    assert.equal(r.stdout.trim(), 'in');
    assert.match(r.stderr, new RegExp(`^warning: identity file ${missing} not accessible: ENOENT$`, 'm'));
  }
  const quiet = await burrow(['-F', sshd.sshConfigFile, '-q', '-i', missing, 'test-sshd', 'echo', 'in']);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, '');
});

test('malformed forward specs are usage errors (exit 2), with no stack trace', async () => {
  for (const spec of ['5555', 'a:b:c:d:e', '70000:x:1']) {
    const r = await burrow(['-F', sshd.sshConfigFile, '-N', '-L', spec, 'test-sshd']);
    assert.equal(r.code, 2, spec);
    assert.match(r.stderr, /^burrow: bad -L spec/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('with ExitOnForwardFailure a taken port exits 255 naming the process, before connecting', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as net.AddressInfo;
  const before = sshd.authAttempts().length;
  try {
    const r = await burrow(['-F', sshd.sshConfigFile, '-o', 'ExitOnForwardFailure=yes', '-N', '-L', `${port}:127.0.0.1:${echo.port}`, 'test-sshd']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, new RegExp(`port ${port} is in use by node \\(pid ${process.pid}\\)`));
    assert.equal(sshd.authAttempts().length, before, 'no login was attempted');
  } finally {
    holder.close();
  }
});

test('without ExitOnForwardFailure a taken port is reported and the other forwards work', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as net.AddressInfo;
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `${port}:127.0.0.1:${echo.port}`, '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    await r.waitFor(`port ${port} is in use`);
    const line = await r.waitFor(/127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ via test-sshd/);
    const ok = listenPort(line);
    const payload = randomBytes(1 << 20);
    assert.equal(sha256(await roundTrip(net.connect(ok, '127.0.0.1'), payload)), sha256(payload));
  } finally {
    await r.stop();
    holder.close();
  }
});

test('Ciphers, -c, MACs and KexAlgorithms choose what sshd sees (-c wins), and a cipher sshd lacks is named', async () => {
  const strict = await startSshd({ extraConfig: ['LogLevel DEBUG1', 'Ciphers aes256-ctr,chacha20-poly1305@openssh.com'] });
  const lastCipher = () => [...strict.log().matchAll(/kex: client->server cipher: (\S+)/g)].at(-1)?.[1];
  try {
    for (const [args, expected] of [
      [['-o', 'Ciphers=aes256-ctr'], 'aes256-ctr'],
      [['-o', 'Ciphers=^chacha20-poly1305@openssh.com'], 'chacha20-poly1305@openssh.com'],
      [['-c', 'chacha20-poly1305@openssh.com', '-o', 'Ciphers=aes256-ctr'], 'chacha20-poly1305@openssh.com'],
      [['-o', 'Ciphers=aes256-ctr', '-c', 'chacha20-poly1305@openssh.com'], 'chacha20-poly1305@openssh.com'],
    ] as const) {
      const r = await burrow(['-F', strict.sshConfigFile, ...args, 'test-sshd', 'true']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastCipher(), expected, args.join(' '));
    }
    // MACs and KexAlgorithms too (a MAC only matters with a CTR cipher).
    const r = await burrow(['-F', strict.sshConfigFile, '-c', 'aes256-ctr', '-o', 'MACs=umac-64@openssh.com,hmac-sha2-512', '-o', 'KexAlgorithms=^diffie-hellman-group14-sha256', 'test-sshd', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal([...strict.log().matchAll(/kex: algorithm: (\S+)/g)].at(-1)?.[1], 'diffie-hellman-group14-sha256');
    assert.match([...strict.log().matchAll(/kex: client->server cipher: .*/g)].at(-1)?.[0] ?? '', /aes256-ctr MAC: hmac-sha2-512 /);
    const none = await burrow(['-F', strict.sshConfigFile, '-c', 'aes128-gcm@openssh.com', 'test-sshd', 'true']);
    assert.equal(none.code, 255);
    assert.match(none.stderr, /no matching C->S cipher \(burrow offered aes128-gcm@openssh\.com; check Ciphers or -c\)/);
    const bad = await burrow(['-F', strict.sshConfigFile, '-c', 'aes128-ctr,nope', 'test-sshd', 'true']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^burrow: -c 'aes128-ctr,nope' has an unknown cipher 'nope'; burrow supports /);
    assert.doesNotMatch(bad.stderr + none.stderr, /\n\s+at /);
  } finally {
    await strict.stop();
  }
});

test('a changed host key exits 255 with the known_hosts file and line', async () => {
  const other = keygen(join(sshd.dir, `changed-${Date.now()}`));
  const kh = join(sshd.dir, 'kh-changed');
  writeFileSync(kh, `[${sshd.host}]:${sshd.port} ${other.split(' ').slice(0, 2).join(' ')}\n`);
  const r = await burrow(['-F', sshd.sshConfigFile, '-o', `UserKnownHostsFile=${kh}`, '-N', 'test-sshd']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, new RegExp(`${kh}:1`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('no destination prints usage and exits 2; an unknown flag is a usage error', async () => {
  assert.equal((await burrow([])).code, 2);
  // A bad spec is named even without a destination (ssh: "Bad local forwarding specification").
  const spec = await burrow(['-L', 'abc']);
  assert.equal(spec.code, 2);
  assert.match(spec.stderr, /^burrow: bad -L spec 'abc'/m);
  const r = await burrow(['-Z', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option -Z/);
});

test('-R 0 reports the port the server allocated, and it reaches the local target', async () => {
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-R', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    const line = await r.waitFor(/:\d+ on test-sshd → /);
    const m = /:(\d+) on test-sshd/.exec(line);
    const port = Number(m?.[1]);
    assert.ok(port > 0);
    const payload = randomBytes(1 << 20);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
  } finally {
    await r.stop();
  }
});

test('Ctrl-C while a remote command runs (no PTY) stops burrow as interrupted, without waiting for the command', async () => {
  // The command writes until its output is gone (SIGPIPE), so it ends with the session and leaves nothing behind.
  const r = runBurrow(['-F', sshd.sshConfigFile, '-T', 'test-sshd', 'echo started; for i in $(seq 100); do echo tick; sleep 0.2; done; echo finished']);
  try {
    await r.waitFor('started');
    r.child.kill('SIGINT');
    const { code } = await r.exited;
    assert.equal(code, 130);
    assert.doesNotMatch(r.stdout(), /finished/);
  } finally {
    r.child.kill('SIGKILL');
  }
});

test('a remote command does not reconnect: losing the server exits 255', async () => {
  const own = await startSshd();
  const r = runBurrow(['-F', own.sshConfigFile, '-T', 'test-sshd', 'echo started; sleep 30']);
  try {
    await r.waitFor('started');
    own.killConnections();
    const { code } = await r.exited;
    assert.equal(code, 255);
    assert.match(r.stderr(), /connection to test-sshd lost/);
  } finally {
    r.child.kill('SIGKILL');
    await own.stop();
  }
});

// The CLI collects garbage when it is idle, not on V8's memory reducer's clock
// (src/runtime/idle-gc.ts): read from `node --trace-gc`, where V8 names the collections
// `gc()` makes "testing" and the reducer's "Mark-Compact (reduce)".
test("after a transfer, an idle forwarder collects its garbage itself; V8's memory reducer does not run", { timeout: 60_000 }, async () => {
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
