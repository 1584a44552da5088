/**
 * The demo server driven by a bare ssh2 Client: every auth method (including a
 * two-round password + code keyboard-interactive), the open-proxy refusal and its
 * reason, the shell, allowExec, and close() ending everything.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { pipeline } from 'node:stream';
import { describe, it } from 'node:test';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import ssh2 from 'ssh2';
import { startDemoSshServer, type DemoSshServer } from './ssh-server.js';
import { generateEd25519Pair } from './host-key.js';
import { until } from '../../test/helpers/wait.js';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** Connects and resolves with the client once ready, or rejects with the auth/handshake error. */
function login(srv: DemoSshServer, cfg: Partial<ConnectConfig>, onKi?: (prompts: string[]) => string[]): Promise<SshClient> {
  const c = new Client();
  if (onKi) {
    c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(onKi(prompts.map((p) => p.prompt))));
  }
  return new Promise((resolve, reject) => {
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({
      host: srv.host,
      port: srv.port,
      // Pin the host key the way a careful client does: compare against the server's own.
      hostVerifier: (key: Buffer) => `ssh-ed25519 ${key.toString('base64')}` === srv.hostPublicKey,
      ...cfg,
    });
  });
}

function forwardOut(c: SshClient, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    c.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
}

function exec(c: SshClient, cmd: string): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    c.exec(cmd, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | undefined;
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (c: number) => (code = c));
      ch.on('close', () => resolve({ code, stdout, stderr }));
    }),
  );
}

describe('demo SSH server with an ssh2 client', () => {
  it('accepts the right password and refuses a wrong one', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'right' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'right' });
      c.end();
      await assert.rejects(login(srv, { username: 'ann', password: 'wrong' }), /All configured authentication methods failed/);
      await assert.rejects(login(srv, { username: 'bob', password: 'right' }), /All configured authentication methods failed/);
    } finally {
      await srv.close();
    }
  });

  it('gives a random demo password when no auth is configured, and refuses none', async () => {
    const srv = await startDemoSshServer();
    try {
      const pw = srv.users.demo;
      assert.ok(pw && pw.length >= 12);
      (await login(srv, { username: 'demo', password: pw })).end();
      // With no credentials ssh2 tries only `none`.
      await assert.rejects(login(srv, { username: 'demo' }), /authentication methods failed/);
    } finally {
      await srv.close();
    }
  });

  it('asks a password then a one-time code in two keyboard-interactive rounds', async () => {
    const rounds: string[][] = [];
    const srv = await startDemoSshServer({
      keyboardInteractive: {
        prompts: ['Password: ', { prompt: 'Verification code: ', echo: true }],
        oneAtATime: true,
        check: (user, answers) => user === 'ann' && answers[0] === 'pw' && answers[1] === '123456',
      },
    });
    try {
      const answer = (prompts: string[]): string[] => {
        rounds.push(prompts);
        return prompts.map((p) => (p.startsWith('Password') ? 'pw' : '123456'));
      };
      (await login(srv, { username: 'ann', tryKeyboard: true }, answer)).end();
      assert.deepEqual(rounds, [['Password: '], ['Verification code: ']]);
      await assert.rejects(
        login(srv, { username: 'ann', tryKeyboard: true }, (ps) => ps.map(() => 'nope')),
        /authentication methods failed/,
      );
    } finally {
      await srv.close();
    }
  });

  it('accepts an authorized key and refuses another', async () => {
    const good = generateEd25519Pair();
    const bad = generateEd25519Pair();
    const srv = await startDemoSshServer({ authorizedKeys: [Buffer.from(good.public)] });
    try {
      (await login(srv, { username: 'ann', privateKey: good.private })).end();
      await assert.rejects(login(srv, { username: 'ann', privateKey: bad.private }), /authentication methods failed/);
    } finally {
      await srv.close();
    }
  });

  it('verifies the public-key signature, not just the key offered', async () => {
    const good = generateEd25519Pair();
    const other = generateEd25519Pair();
    /** An agent that offers the authorized key and signs with `signer`. */
    class Agent extends ssh2.BaseAgent<string> {
      constructor(private readonly signer: string) {
        super();
      }
      getIdentities(cb: (err: Error | undefined, keys: string[]) => void): void {
        cb(undefined, [good.public]);
      }
      sign(_key: string, data: Buffer, opts: unknown, cb?: (err: Error | undefined, sig?: Buffer) => void): void {
        const done = typeof opts === 'function' ? (opts as typeof cb) : cb;
        const key = ssh2.utils.parseKey(this.signer);
        if (key instanceof Error) return done?.(key);
        done?.(undefined, key.sign(data));
      }
    }
    const srv = await startDemoSshServer({ authorizedKeys: [good.public] });
    try {
      (await login(srv, { username: 'ann', agent: new Agent(good.private) })).end();
      await assert.rejects(login(srv, { username: 'ann', agent: new Agent(other.private) }), /authentication methods failed/);
    } finally {
      await srv.close();
    }
  });

  it('refuses direct-tcpip to non-loopback targets with a reason, and connects loopback ones', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'pw' });
      for (const host of ['192.0.2.1', '10.0.0.1', 'example.com', '::2', '0.0.0.0']) {
        await assert.rejects(forwardOut(c, host, 80), (err: Error & { reason?: number }) => {
          assert.equal(err.reason, 1, `${host}: administratively prohibited`);
          assert.match(err.message, /forwards only to loopback/);
          return true;
        });
      }
      // A loopback port nobody listens on (1 is privileged, and a port outside the
      // ephemeral range cannot self-connect): the open fails with CONNECT_FAILED and the errno.
      const closedPort = 1;
      await assert.rejects(forwardOut(c, '127.0.0.1', closedPort), (err: Error & { reason?: number }) => {
        assert.equal(err.reason, 2);
        assert.match(err.message, /ECONNREFUSED/);
        return true;
      });
      // The SSH port itself is loopback: the channel opens and the SSH banner comes through.
      const ch = await forwardOut(c, 'localhost', srv.port);
      const banner = await new Promise<string>((resolve) => ch.once('data', (d: Buffer) => resolve(d.toString())));
      assert.match(banner, /^SSH-2\.0-burrow-demo/);
      ch.destroy();
      assert.ok(srv.stats.refused >= 6);
      c.end();
    } finally {
      await srv.close();
    }
  });

  it('carries bytes intact both ways on concurrent direct-tcpip channels', async () => {
    const echo = createServer({ allowHalfOpen: true }, (sock) => {
      sock.on('error', () => sock.destroy());
      pipeline(sock, sock, () => undefined);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'pw' });
      const port = (echo.address() as { port: number }).port;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const payload = randomBytes(3 * 1024 * 1024 + 17);
          const ch = await forwardOut(c, '127.0.0.1', port);
          const back: Buffer[] = [];
          ch.on('data', (d: Buffer) => back.push(d));
          const ended = new Promise<void>((resolve) => ch.once('end', resolve));
          ch.end(payload);
          await ended;
          const got = Buffer.concat(back);
          assert.equal(got.length, payload.length);
          assert.ok(got.equals(payload), 'echoed bytes differ');
        }),
      );
      c.end();
    } finally {
      await srv.close();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });

  it('a client sending past its window: the channel is closed, the service gets the start of the stream and no hole', async () => {
    // The service does not read until the client has spent its credit, so the server's
    // window is not re-granted; the client gives itself 4 MiB it was never granted.
    const extra = 4 * 1024 * 1024;
    const payload = randomBytes(32 * 1024 * 1024);
    let service: Socket | undefined;
    const sink = createServer({ allowHalfOpen: true }, (sock) => {
      service = sock;
      sock.pause();
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'pw' });
      const ch = await forwardOut(c, '127.0.0.1', (sink.address() as { port: number }).port);
      ch.on('error', () => undefined);
      ch.resume(); // the service sends nothing; an unread channel would never get to 'close'
      let closed = false;
      ch.once('close', () => (closed = true));
      const out = (ch as unknown as { outgoing: { window: number } }).outgoing;
      out.window += extra;
      ch.end(payload);
      // Once the service's socket is full the server stops granting window, and the
      // client's false credit takes its data past the window. Stock ssh2 dropped it
      // and went on: the channel stayed open, stalled, and never got here.
      await until('the server closed the overrun channel', () => closed);
      assert.ok(service);
      const parts: Buffer[] = [];
      await new Promise<void>((resolve) => {
        service?.on('data', (d: Buffer) => parts.push(d));
        // A reset (Linux may report one that came while the queue was full as an end).
        service?.once('end', resolve).once('error', () => resolve());
        service?.resume();
      });
      const got = Buffer.concat(parts);
      assert.ok(payload.subarray(0, got.length).equals(got), 'what the service got is the start of the stream, without a hole');
      assert.ok(got.length < payload.length, `${got.length} bytes arrived`);
      c.end();
    } finally {
      service?.destroy();
      await srv.close();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
  });

  it('binds -R listeners on loopback only, hands connections back, and cancels them', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'pw' });
      c.on('tcp connection', (_info, accept) => accept().end('from the client side\n'));
      // Asked for every interface, as `ssh -R 0.0.0.0:0:...` does: bound on loopback, like sshd's GatewayPorts=no.
      const port = await new Promise<number>((resolve, reject) =>
        c.forwardIn('0.0.0.0', 0, (err, p) => (err ? reject(err) : resolve(p))),
      );
      assert.ok(port > 0);
      assert.equal(await readAll({ host: '127.0.0.1', port }), 'from the client side\n');
      const lan = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
      if (lan) await assert.rejects(readAll({ host: lan.address, port }), /ECONNREFUSED/);
      await new Promise<void>((resolve, reject) => c.unforwardIn('0.0.0.0', port, (err) => (err ? reject(err) : resolve())));
      await assert.rejects(readAll({ host: '127.0.0.1', port }), /ECONNREFUSED/);
      // A second cancel has nothing to cancel.
      await assert.rejects(new Promise<void>((resolve, reject) => c.unforwardIn('0.0.0.0', port, (err) => (err ? reject(err) : resolve()))));
      c.end();
    } finally {
      await srv.close();
    }
  });

  it('closes -R listeners when their connection ends', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    const c = await login(srv, { username: 'ann', password: 'pw' });
    c.on('error', () => undefined);
    const port = await new Promise<number>((resolve, reject) =>
      c.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))),
    );
    await srv.close();
    await assert.rejects(readAll({ host: '127.0.0.1', port }), /ECONNREFUSED/);
  });

  it('runs built-ins by default and real commands only with allowExec', async () => {
    const plain = await startDemoSshServer({ users: { ann: 'pw' } });
    const real = await startDemoSshServer({ users: { ann: 'pw' }, allowExec: true });
    try {
      const a = await login(plain, { username: 'ann', password: 'pw' });
      assert.deepEqual(await exec(a, 'echo "two  words"'), { code: 0, stdout: 'two  words\n', stderr: '' });
      assert.equal((await exec(a, 'whoami')).stdout, 'ann\n');
      assert.equal((await exec(a, 'printf x')).code, 127);
      const b = await login(real, { username: 'ann', password: 'pw' });
      assert.deepEqual(await exec(b, 'printf x; echo err >&2; exit 3'), { code: 3, stdout: 'x', stderr: 'err\n' });
      // More output than one channel window, all of it before the exit status.
      const big = await exec(b, 'head -c 5000000 /dev/zero | tr "\\0" a');
      assert.equal(big.code, 0, big.stderr);
      assert.equal(big.stdout.length, 5_000_000);
      a.end();
      b.end();
    } finally {
      await plain.close();
      await real.close();
    }
  });

  it('opens a line-echo shell that says what it is', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    try {
      const c = await login(srv, { username: 'ann', password: 'pw' });
      const out = await new Promise<string>((resolve, reject) =>
        c.shell(false, (err, ch) => {
          if (err) return reject(err);
          let text = '';
          ch.on('data', (d: Buffer) => (text += d.toString()));
          ch.on('close', () => resolve(text));
          ch.end('hello there\nwhoami\nexit\n');
        }),
      );
      assert.match(out, /burrow demo server/);
      assert.match(out, /hello there$/m);
      assert.match(out, /\$ ann$/m);
      c.end();
    } finally {
      await srv.close();
    }
  });

  it('close() ends every connection and frees the port', async () => {
    const srv = await startDemoSshServer({ users: { ann: 'pw' } });
    const c = await login(srv, { username: 'ann', password: 'pw' });
    const ended = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.on('error', () => undefined);
    assert.equal(srv.stats.openConnections, 1);
    await srv.close();
    await ended;
    assert.equal(srv.stats.openConnections, 0);
    await assert.rejects(
      new Promise((resolve, reject) => netConnect({ host: '127.0.0.1', port: srv.port }).once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
    );
  });
});

function readAll(to: { host: string; port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    netConnect(to)
      .on('data', (d: Buffer) => (text += d.toString()))
      .once('end', () => resolve(text))
      .once('error', reject);
  });
}
