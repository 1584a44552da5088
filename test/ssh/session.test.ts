import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Session } from '../../src/ssh/session.js';
import { SessionPool } from '../../src/ssh/pool.js';
import { BurrowError, isBurrowError } from '../../src/errors.js';
import type { Prompter } from '../../src/prompt.js';
import { startSshd, keygen, type Sshd, SSH } from '../helpers/sshd.js';
import { sshdConfig } from '../helpers/config.js';
import { echoServer, roundTrip, sha256, randomBytes } from '../helpers/net.js';
import { until } from '../helpers/wait.js';

let sshd: Sshd;
let echo: Awaited<ReturnType<typeof echoServer>>;
const PW_USER = { name: 'burrowpw', password: 'correct horse 42' };

before(async () => {
  sshd = await startSshd({ passwordUser: PW_USER });
  echo = await echoServer();
});
after(async () => {
  await sshd?.stop();
  await echo?.close();
});

function answering(answers: string[]): Prompter & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async ask(message) {
      asked.push(message);
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected prompt: ${message}`);
      return a;
    },
    info() {},
  };
}

test('connects with a key, opens a direct-tcpip channel and moves bytes intact', async () => {
  const session = await Session.connect({ config: sshdConfig(sshd) });
  try {
    const ch = await session.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
    const payload = randomBytes(4 << 20);
    const back = await roundTrip(ch, payload);
    assert.equal(sha256(back), sha256(payload));
    const exec = await session.exec('echo session-ok');
    let out = '';
    exec.on('data', (d: Buffer) => (out += d));
    await new Promise((r) => exec.on('close', r));
    assert.equal(out.trim(), 'session-ok');
  } finally {
    await session.close();
  }
  assert.equal(session.state, 'closed');
});

test('a changed host key is refused before authentication, naming the known_hosts line', async () => {
  const dir = sshd.dir;
  const other = keygen(join(dir, `other-${Date.now()}`));
  const kh = join(dir, 'known_hosts_changed');
  writeFileSync(kh, `# first line\n[${sshd.host}]:${sshd.port} ${other.split(' ').slice(0, 2).join(' ')}\n`);
  const before = sshd.authAttempts().length;
  await assert.rejects(Session.connect({ config: sshdConfig(sshd, { userKnownHostsFiles: [kh] }) }), (e: unknown) => {
    assert.ok(isBurrowError(e, 'HOST_KEY_MISMATCH'), String(e));
    assert.match(e.message, new RegExp(`${kh}:2`));
    return true;
  });
  assert.equal(sshd.authAttempts().length, before, 'no authentication was attempted');
});

test('an unknown host under StrictHostKeyChecking=yes is refused', async () => {
  const kh = join(sshd.dir, 'known_hosts_empty');
  writeFileSync(kh, '');
  await assert.rejects(Session.connect({ config: sshdConfig(sshd, { userKnownHostsFiles: [kh] }) }), (e: unknown) => isBurrowError(e, 'HOST_KEY_UNKNOWN'));
});

test('accept-new records the key and the next connection verifies against it', async () => {
  const kh = join(sshd.dir, 'known_hosts_new');
  writeFileSync(kh, '');
  const s1 = await Session.connect({ config: sshdConfig(sshd, { userKnownHostsFiles: [kh], strictHostKeyChecking: 'accept-new' }) });
  await s1.close();
  assert.match(readFileSync(kh, 'utf8'), new RegExp(`\\[${sshd.host}\\]:${sshd.port} ssh-ed25519 `));
  const s2 = await Session.connect({ config: sshdConfig(sshd, { userKnownHostsFiles: [kh], strictHostKeyChecking: 'yes' }) });
  await s2.close();
});

test('a wrong password fails once with AUTH_FAILED and is not retried', async () => {
  const before = sshd.authAttempts().filter((l) => l.includes('Failed password')).length;
  const prompter = answering(['wrong password']);
  const cfg = sshdConfig(sshd, { user: PW_USER.name, identityFiles: [], batchMode: false });
  await assert.rejects(Session.connect({ config: cfg, prompter }), (e: unknown) => {
    assert.ok(isBurrowError(e, 'AUTH_FAILED'), String(e));
    assert.match(e.message, /permission denied/);
    return true;
  });
  assert.equal(prompter.asked.length, 1);
  assert.match(prompter.asked[0] ?? '', /burrowpw@127\.0\.0\.1's password: /);
  const after = sshd.authAttempts().filter((l) => l.includes('Failed password')).length;
  assert.equal(after - before, 1);
});

test('the right password from the prompt logs in', async () => {
  const prompter = answering([PW_USER.password]);
  const cfg = sshdConfig(sshd, { user: PW_USER.name, identityFiles: [], batchMode: false });
  const s = await Session.connect({ config: cfg, prompter });
  await s.close();
});

test('a password prompt the person cancels ends the login as ABORTED, not as a refused login', async () => {
  const failedBefore = sshd.authAttempts().filter((l) => l.includes('Failed')).length;
  const asked: string[] = [];
  const prompter: Prompter = {
    async ask(message) {
      asked.push(message);
      throw new BurrowError('ABORTED', 'interrupted', { phase: 'auth' });
    },
    info() {},
  };
  const cfg = sshdConfig(sshd, { user: PW_USER.name, identityFiles: [], batchMode: false });
  await assert.rejects(Session.connect({ config: cfg, prompter }), (e: unknown) => isBurrowError(e, 'ABORTED') && e.message === 'interrupted');
  assert.equal(asked.length, 1);
  assert.equal(sshd.authAttempts().filter((l) => l.includes('Failed')).length, failedBefore, 'no password sent');
});

test('with BatchMode and only a password accepted, fails fast with AUTH_NEEDS_TTY', async () => {
  const cfg = sshdConfig(sshd, { user: PW_USER.name, identityFiles: [], batchMode: true });
  await assert.rejects(Session.connect({ config: cfg, prompter: answering([]) }), (e: unknown) => isBurrowError(e, 'AUTH_NEEDS_TTY'));
});

test('an encrypted identity file asks for its passphrase', async () => {
  const keyPath = join(sshd.dir, `enc-${Date.now()}`);
  const pub = keygen(keyPath, { passphrase: 'open sesame' });
  writeFileSync(join(sshd.dir, 'authorized_keys'), `${sshd.clientPublicKey}\n${pub}\n`);
  const prompter = answering(['open sesame']);
  const s = await Session.connect({ config: sshdConfig(sshd, { identityFiles: [keyPath], batchMode: false }), prompter });
  await s.close();
  assert.match(prompter.asked[0] ?? '', /Enter passphrase for key/);
});

test('ssh-agent keys authenticate', async () => {
  const sock = join(sshd.dir, `agent-${Date.now()}.sock`);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('ssh-add', [sshd.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const s = await Session.connect({ config: sshdConfig(sshd, { identityFiles: [], identitiesOnly: false }), agent: sock });
    await s.close();
    assert.ok(sshd.authAttempts().some((l) => l.includes('Accepted publickey')));
  } finally {
    agent.kill();
  }
});

test('ProxyCommand carries the connection and ends with the session', async () => {
  const marker = `burrow-proxy-${process.pid}-${Date.now()}`;
  const cmd = `${SSH} -o SetEnv=M=${marker} -F ${sshd.sshConfigFile} -W %h:%p test-sshd`.replace('%h', sshd.host).replace('%p', String(sshd.port));
  const running = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(marker);
  const s = await Session.connect({ config: sshdConfig(sshd, { proxyCommand: cmd }), proxyStderr: 'ignore' });
  const ch = await s.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
  const payload = randomBytes(1 << 20);
  assert.equal(sha256(await roundTrip(ch, payload)), sha256(payload));
  assert.equal(running(), true);
  await s.close();
  for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(running(), false, 'the ProxyCommand child ended with the session');
});

test('ProxyJump through a second sshd; the pool shares one session per destination', async () => {
  const jump = await startSshd();
  try {
    const pool = new SessionPool({
      resolve: async (name) => {
        assert.equal(name, 'jumphost');
        return sshdConfig(jump, { alias: 'jumphost' });
      },
    });
    const cfg = sshdConfig(sshd, { proxyJump: 'jumphost' });
    const a = await pool.acquire(cfg);
    const b = await pool.acquire(cfg);
    assert.equal(a.session, b.session);
    const ch = await a.session.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
    // Larger than both sshds' 2 MiB windows: the inner connection's packets (cut from
    // reused memory) wait in the hop's channel for window.
    const payload = randomBytes(12 << 20);
    assert.equal(sha256(await roundTrip(ch, payload)), sha256(payload));
    assert.equal(jump.authAttempts().filter((l) => l.includes('Accepted')).length, 1);
    await a.release();
    assert.equal(pool.size, 2);
    await b.release();
    assert.equal(pool.size, 0);
  } finally {
    await jump.stop();
  }
});

test('ProxyJump: the hop channel carrying the inner connection is opened wide, not tuned (the inner channels are)', async () => {
  const jump = await startSshd();
  try {
    const jumpCfg = sshdConfig(jump, { alias: 'jumphost' });
    const pool = new SessionPool({ resolve: async () => jumpCfg });
    // The jump host's session, shared by the pool: catch the hop channel it opens.
    const jumpLease = await pool.acquire(jumpCfg);
    const openTcp = jumpLease.session.openTcp.bind(jumpLease.session);
    let hop: unknown;
    jumpLease.session.openTcp = async (...a: Parameters<typeof openTcp>) => (hop = await openTcp(...a));
    const lease = await pool.acquire(sshdConfig(sshd, { proxyJump: 'jumphost' }));
    const ch = await lease.session.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
    const payload = randomBytes(8 << 20);
    assert.equal(sha256(await roundTrip(ch, payload)), sha256(payload));
    const tuned = (c: unknown) => c as { incoming: { window: number }; _wtune?: { size: number; carrier: boolean } };
    assert.ok(hop, 'the target was reached through the jump session');
    // The hop: the window's ceiling (64 MiB) from its first adjust, no tuner of its own.
    assert.equal(tuned(hop)._wtune?.carrier, true);
    assert.equal(tuned(hop)._wtune?.size, 64 << 20);
    assert.ok(tuned(hop).incoming.window > 32 << 20, `hop window ${tuned(hop).incoming.window}`);
    // The inner channel: tuned as any other (on loopback it stays at its 3 MiB start).
    assert.equal(tuned(ch)._wtune?.carrier, false);
    assert.equal(tuned(ch)._wtune?.size, 3 << 20);
    await lease.release();
    await jumpLease.release();
    assert.equal(pool.size, 0);
  } finally {
    await jump.stop();
  }
});

test("a target the server cannot reach: CHANNEL_OPEN_FAILED in the server's own words, and the session goes on", async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const session = await Session.connect({ config: sshdConfig(sshd) });
  try {
    await assert.rejects(session.openTcp({ host: '127.0.0.1', port: deadPort }, { host: '127.0.0.1', port: 0 }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'CHANNEL_OPEN_FAILED'));
      assert.equal(e.message, `test-sshd could not open 127.0.0.1:${deadPort}: Connection refused`);
      return true;
    });
    await assert.rejects(session.openUnix('/nonexistent/burrow.sock'), (e: unknown) => {
      assert.ok(isBurrowError(e, 'CHANNEL_OPEN_FAILED'));
      assert.match(e.message, /^test-sshd could not open \/nonexistent\/burrow\.sock: \S/);
      return true;
    });
    const ch = await session.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
    assert.equal((await roundTrip(ch, Buffer.from('still here'))).toString(), 'still here');
  } finally {
    await session.close();
  }
});

test('opens aborted while the server is frozen reject as ABORTED; what the server opens late is closed again, and the session goes on', async () => {
  // The target counts what reaches it: the server carries out both opens once thawed.
  let seen = 0;
  let closed = 0;
  const target = net.createServer((s) => {
    seen++;
    s.on('error', () => {}).on('close', () => closed++).resume();
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const session = await Session.connect({ config: sshdConfig(sshd) });
  try {
    assert.ok(sshd.freezeConnections() > 0);
    const ac = new AbortController();
    const to = { type: 'tcp' as const, host: '127.0.0.1', port: (target.address() as net.AddressInfo).port, origin: { host: '127.0.0.1', port: 0 } };
    const opens = [session.openLink(to, { signal: ac.signal }), session.openLink(to, { signal: ac.signal })];
    ac.abort();
    for (const p of opens) await assert.rejects(p, (e: unknown) => isBurrowError(e, 'ABORTED'));
    await assert.rejects(session.openLink(to, { signal: ac.signal }), (e: unknown) => isBurrowError(e, 'ABORTED'));
    sshd.thawConnections();
    await until('the server to open both channels and close them again', () => seen === 2 && closed === 2);
    const ch = await session.openTcp({ host: '127.0.0.1', port: echo.port }, { host: '127.0.0.1', port: 0 });
    assert.equal((await roundTrip(ch, Buffer.from('still here'))).toString(), 'still here');
  } finally {
    sshd.thawConnections();
    await session.close();
    await new Promise((r) => target.close(r));
  }
});

test('connection refused is a CONNECT_FAILED error naming host and port', async () => {
  const cfg = sshdConfig(sshd, { port: 1 });
  await assert.rejects(Session.connect({ config: cfg }), (e: unknown) => {
    assert.ok(isBurrowError(e, 'CONNECT_FAILED'));
    assert.match(e.message, /127\.0\.0\.1 port 1: connection refused/);
    return true;
  });
});
