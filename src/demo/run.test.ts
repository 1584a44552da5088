/**
 * runDemo with a tunnel made the way the CLI will make it, but from a bare ssh2 Client
 * (`forwardOut` behind a local net.Server), strictly checking the demo host key.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { isBurrowError } from '../errors.js';
import { runDemo, type DemoTunnel, type OpenTunnelArgs } from './run.js';

const { Client } = ssh2;

/** A minimal -L: one ssh2 connection, one forwardOut channel per local connection. */
async function openTunnel(args: OpenTunnelArgs): Promise<DemoTunnel> {
  const line = (await readFile(args.knownHostsFile, 'utf8')).trim();
  const [pattern, type, b64] = line.split(' ');
  assert.equal(pattern, `[${args.sshHost}]:${args.sshPort}`);
  assert.equal(type, 'ssh-ed25519');
  assert.equal(statSync(args.knownHostsFile).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(args.knownHostsFile)).mode & 0o777, 0o700);

  const c = new Client();
  await new Promise<void>((resolve, reject) => {
    c.once('ready', resolve).once('error', reject);
    c.connect({
      host: args.sshHost,
      port: args.sshPort,
      username: args.user,
      password: args.password,
      hostVerifier: (key: Buffer) => key.toString('base64') === b64,
    });
  });
  c.on('error', () => undefined);
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    c.forwardOut('127.0.0.1', sock.remotePort ?? 0, args.target.host, args.target.port, (err, ch) => {
      if (err) return sock.destroy();
      pipeline(sock, ch, sock, () => sock.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(args.localPort, '127.0.0.1', resolve));
  return {
    localPort: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      c.end();
    },
  };
}

const SSH = '/usr/bin/ssh';

/** Runs the printed `ssh ...` hint with OpenSSH, the password given through SSH_ASKPASS. */
async function runHint(command: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'burrow-demo-askpass-'));
  try {
    const askpass = join(dir, 'askpass');
    await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$DEMO_PASSWORD"\n', { mode: 0o700 });
    const [, ...args] = command.split(/\s+/);
    const child = spawn(SSH, ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=yes', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEMO_PASSWORD: password, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, err);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', () => resolve(true));
  });
}

describe('runDemo', () => {
  it('with once: fetches the page through the tunnel, prints each step, and cleans up', async () => {
    const lines: string[] = [];
    let knownHosts = '';
    const result = await runDemo({
      once: true,
      out: (l) => lines.push(l),
      openTunnel: (a) => {
        knownHosts = a.knownHostsFile;
        return openTunnel(a);
      },
    });
    const text = lines.join('\n');
    assert.equal(result.status, 200);
    assert.match(text, new RegExp(`demo SSH server started at 127\\.0\\.0\\.1:${result.sshPort}`));
    assert.match(text, /fingerprint ED25519 SHA256:[A-Za-z0-9+/]{43}/);
    assert.match(text, new RegExp(`tunnel 127\\.0\\.0\\.1:${result.localPort} → 127\\.0\\.0\\.1:${result.httpPort} via demo SSH server`));
    assert.match(text, /→ 200 OK: "Hello from the far side of the tunnel"/);
    assert.match(text, new RegExp(`try: curl http://127\\.0\\.0\\.1:${result.localPort}/`));
    assert.doesNotMatch(text, /Ctrl-C/);
    assert.equal(existsSync(dirname(knownHosts)), false, 'temp dir removed');
    for (const port of [result.localPort, result.sshPort, result.httpPort]) assert.ok(await refused(port), `port ${port} closed`);
  });

  it('without once: stays up until the signal aborts, and its ssh hint works', async () => {
    const ac = new AbortController();
    const lines: string[] = [];
    let curled: boolean | undefined;
    let sshOut: string | undefined;
    const done = runDemo({
      once: false,
      signal: ac.signal,
      out: (l) => {
        lines.push(l);
        if (l !== 'press Ctrl-C to stop') return;
        const text = lines.join('\n');
        const port = Number(/curl http:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
        const hint = /try: (ssh .*?)\s+\(password (\S+),/.exec(text);
        void (async () => {
          try {
            // A second fetch through the still-open tunnel, as the user would with curl.
            curled = !(await refused(port));
            if (hint?.[1] && hint[2] && existsSync(SSH)) sshOut = await runHint(hint[1], hint[2]);
          } finally {
            ac.abort();
          }
        })();
      },
      openTunnel,
    });
    const result = await done;
    assert.equal(curled, true);
    assert.match(lines.join('\n'), /served 2 time\(s\) through the tunnel/);
    if (existsSync(SSH)) assert.match(sshOut ?? '', /^\S+ \S+ \S+ \S+\n$/, 'uname -a through the printed ssh command');
    assert.ok(await refused(result.localPort));
  });

  it('closes what it started when the tunnel cannot open', async () => {
    let sshPort = 0;
    let knownHosts = '';
    await assert.rejects(
      runDemo({
        once: true,
        out: () => undefined,
        openTunnel: async (a) => {
          sshPort = a.sshPort;
          knownHosts = a.knownHostsFile;
          throw new Error('no client yet');
        },
      }),
      /no client yet/,
    );
    assert.ok(await refused(sshPort));
    assert.equal(existsSync(dirname(knownHosts)), false);
  });

  it('refuses to wait forever without a signal, and stops at once when already aborted', async () => {
    await assert.rejects(runDemo({ once: false, out: () => undefined, openTunnel }), (e) => isBurrowError(e, 'USAGE'));
    await assert.rejects(
      runDemo({ once: true, signal: AbortSignal.abort(), out: () => undefined, openTunnel }),
      (e) => isBurrowError(e, 'ABORTED'),
    );
  });
});
