/**
 * The demo server against the real OpenSSH client: proves it speaks real SSH (host
 * key checked strictly, public-key auth in BatchMode, -L, -R 0, exec) and that it
 * refuses to become an open proxy.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { GREETING, startDemoHttpService, type DemoHttpService } from './http-service.js';
import { startDemoSshServer, type DemoSshServer } from './ssh-server.js';
import { generateEd25519Pair } from './host-key.js';

const SSH = '/usr/bin/ssh';

describe('demo SSH server with OpenSSH', { skip: !existsSync(SSH) && 'no /usr/bin/ssh' }, () => {
  let dir: string;
  let srv: DemoSshServer;
  let web: DemoHttpService;
  let base: string[];
  const children = new Set<ChildProcessWithoutNullStreams>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'burrow-demo-test-'));
    const pair = generateEd25519Pair();
    await writeFile(join(dir, 'id'), pair.private, { mode: 0o600 });
    srv = await startDemoSshServer({ authorizedKeys: [pair.public] });
    web = await startDemoHttpService();
    await writeFile(join(dir, 'known_hosts'), `${srv.hostKeyLine()}\n`, { mode: 0o600 });
    base = [
      '-F', '/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'PreferredAuthentications=publickey',
      '-o', 'ExitOnForwardFailure=yes',
      '-i', join(dir, 'id'),
      '-p', String(srv.port),
      '-l', 'alice',
    ];
  });

  after(async () => {
    for (const c of children) c.kill('SIGTERM');
    await srv.close();
    await web.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts ssh and resolves with the first stderr match of `ready` (ssh stays running). */
  function sshUntil(args: string[], ready: RegExp): Promise<{ child: ChildProcessWithoutNullStreams; match: RegExpExecArray }> {
    const child = spawn(SSH, [...base, ...args]);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return new Promise((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = ready.exec(err);
        if (m) resolve({ child, match: m });
      });
      child.once('exit', (code) => reject(new Error(`ssh exited ${code} before ready:\n${err}`)));
    });
  }

  /** Runs ssh to completion. `first` go before the defaults (ssh keeps the first value of an option). */
  function sshRun(args: string[], first: string[] = [], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(SSH, [...first, ...base, ...args]);
    children.add(child);
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) =>
      child.once('close', (code) => {
        children.delete(child);
        resolve({ code, stdout, stderr });
      }),
    );
  }

  function stop(child: ChildProcessWithoutNullStreams): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  it('carries ssh -N -L to the web page', async () => {
    const localPort = await freePort();
    // -v: "Entering interactive session" comes after the -L listener is bound.
    const { child } = await sshUntil(
      ['-v', '-N', '-L', `127.0.0.1:${localPort}:127.0.0.1:${web.port}`, '127.0.0.1'],
      /Entering interactive session/,
    );
    const page = await httpGet({ port: localPort });
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(GREETING));
    await stop(child);
  });

  it('keeps each direction of a -L connection open until its own end (half-close)', async () => {
    // The service speaks first and shuts its side; the client answers after that.
    let heard: (text: string) => void = () => undefined;
    const heardAll = new Promise<string>((resolve) => (heard = resolve));
    const svc = createServer({ allowHalfOpen: true }, (sock) => {
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString()));
      sock.once('end', () => heard(text));
      sock.end('hello, say something\n');
    });
    await new Promise<void>((resolve) => svc.listen(0, '127.0.0.1', resolve));
    try {
      const localPort = await freePort();
      const svcPort = (svc.address() as { port: number }).port;
      const { child } = await sshUntil(['-v', '-N', '-L', `127.0.0.1:${localPort}:127.0.0.1:${svcPort}`, '127.0.0.1'], /Entering interactive session/);
      const sock = netConnect({ host: '127.0.0.1', port: localPort, allowHalfOpen: true });
      let got = '';
      sock.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise<void>((resolve) => sock.once('end', resolve));
      assert.equal(got, 'hello, say something\n');
      sock.end('something, after your end\n');
      assert.equal(await heardAll, 'something, after your end\n');
      await stop(child);
    } finally {
      await new Promise<void>((resolve) => svc.close(() => resolve()));
    }
  });

  it('carries 8 MiB each way intact through ssh -L and ssh -R', async () => {
    const echo = createServer({ allowHalfOpen: true }, (sock) => {
      sock.on('error', () => sock.destroy());
      pipeline(sock, sock, () => undefined);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoPort = (echo.address() as { port: number }).port;
    try {
      const localPort = await freePort();
      const l = await sshUntil(['-v', '-N', '-L', `127.0.0.1:${localPort}:127.0.0.1:${echoPort}`, '127.0.0.1'], /Entering interactive session/);
      const r = await sshUntil(['-N', '-R', `0:127.0.0.1:${echoPort}`, '127.0.0.1'], /Allocated port (\d+) for remote forward/);
      for (const port of [localPort, Number(r.match[1])]) {
        const payload = randomBytes(8 * 1024 * 1024);
        assert.ok((await roundTrip(port, payload)).equals(payload), `bytes intact via port ${port}`);
      }
      await stop(l.child);
      await stop(r.child);
    } finally {
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });

  it('allocates a port for ssh -R 0 and forwards connections back to the client', async () => {
    const { child, match } = await sshUntil(
      ['-N', '-R', `0:127.0.0.1:${web.port}`, '127.0.0.1'],
      /Allocated port (\d+) for remote forward/,
    );
    const remotePort = Number(match[1]);
    assert.ok(remotePort > 0);
    const page = await httpGet({ port: remotePort });
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(GREETING));
    await stop(child);
  });

  it('carries ssh -L to a unix socket (direct-streamlocal)', async () => {
    const path = join(dir, 'app.sock');
    const app = createServer((sock) => sock.end('hello over a unix socket\n'));
    await new Promise<void>((resolve) => app.listen(path, resolve));
    try {
      const localPort = await freePort();
      const { child } = await sshUntil(['-v', '-N', '-L', `127.0.0.1:${localPort}:${path}`, '127.0.0.1'], /Entering interactive session/);
      assert.equal(await readAll(localPort), 'hello over a unix socket\n');
      await stop(child);
    } finally {
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });

  it('listens on a unix socket for ssh -R path:host:port (streamlocal-forward)', async () => {
    const path = join(dir, 'remote.sock');
    const { child } = await sshUntil(
      ['-v', '-N', '-R', `${path}:127.0.0.1:${web.port}`, '127.0.0.1'],
      /remote forward success for: listen [^\n]*remote\.sock/,
    );
    const page = await httpGet({ socketPath: path });
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(GREETING));
    await stop(child);
  });

  it('gives ssh -tt a line-echo shell that edits lines', async () => {
    // \x7f erases the typo; the shell echoes keystrokes itself because the pty is raw.
    const r = await sshRun(['-tt', '127.0.0.1'], [], 'hellp\x7fo world\rexit\r');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /burrow demo server/);
    assert.match(r.stdout, /\r\nhello world\r\n/);
  });

  it('answers keepalives (ServerAliveInterval)', async () => {
    // After auth, a -N client sends no global request but keepalive@openssh.com (type 80);
    // any reply (type 82, request failure, as sshd sends) counts as alive.
    const { child } = await sshUntil(
      ['-vvv', '-N', '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=1', '127.0.0.1'],
      /Entering interactive session[\s\S]*send packet: type 80[\s\S]*receive packet: type 82/,
    );
    assert.equal(child.exitCode, null);
    await stop(child);
  });

  it('answers exec echo hi with a built-in', async () => {
    const r = await sshRun(['127.0.0.1', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  it('runs no real commands unless allowExec', async () => {
    const r = await sshRun(['127.0.0.1', 'cat /etc/passwd']);
    assert.equal(r.code, 127);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /not available/);
  });

  it('refuses direct-tcpip to a non-loopback address, saying why', async () => {
    const r = await sshRun(['-W', '192.0.2.1:80', '127.0.0.1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /administratively prohibited: burrow demo server forwards only to loopback/);
  });

  it('is rejected by ssh when the known_hosts key does not match', async () => {
    const other = ssh2.utils.parseKey(generateEd25519Pair().public);
    assert.ok(!(other instanceof Error));
    const wrong = join(dir, 'wrong_known_hosts');
    await writeFile(wrong, `[127.0.0.1]:${srv.port} ssh-ed25519 ${other.getPublicSSH().toString('base64')}\n`);
    const r = await sshRun(['127.0.0.1', 'echo', 'hi'], ['-o', `UserKnownHostsFile=${wrong}`]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function httpGet(where: { port: number } | { socketPath: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', ...where, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    netConnect({ host: '127.0.0.1', port })
      .on('data', (d: Buffer) => (text += d.toString()))
      .once('end', () => resolve(text))
      .once('error', reject);
  });
}

function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const back: Buffer[] = [];
    const sock = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sock.on('data', (d: Buffer) => back.push(d));
    sock.once('end', () => resolve(Buffer.concat(back)));
    sock.once('error', reject);
    sock.end(payload);
  });
}
