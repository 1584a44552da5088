/**
 * What a person at a terminal sees: an interactive shell with a PTY, and
 * keyboard-interactive prompts ("First Factor", "Second Factor") shown verbatim with
 * echo off, asked once per connection whatever the number of tunnels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { startSshd, freePort } from '../helpers/sshd.js';
import { echoServer, roundTrip, sha256, randomBytes } from '../helpers/net.js';
import { spawnPty } from '../helpers/pty.js';
import { BIN } from '../helpers/cli.js';
import { startDemoSshServer } from '../../src/demo/index.js';

test('an interactive shell runs in a PTY of the right size and returns its exit status', async () => {
  const sshd = await startSshd();
  const pty = spawnPty(process.execPath, [BIN, '-F', sshd.sshConfigFile, 'test-sshd'], { cols: 100, rows: 30, env: { PS1: '$ ' } });
  try {
    pty.type('echo pty-$((6*7)); stty size');
    await pty.waitFor('pty-42');
    await pty.waitFor('30 100');
    pty.type('exit 3');
    const { code } = await pty.wait();
    assert.equal(code, 3);
  } finally {
    pty.kill('SIGKILL');
    await sshd.stop();
  }
});

test('after the shell exits, its forwards stay until their connections close (as ssh), then burrow exits with its status', async () => {
  const sshd = await startSshd();
  const echo = await echoServer();
  const port = await freePort();
  const pty = spawnPty(process.execPath, [BIN, '-F', sshd.sshConfigFile, '-L', `${port}:127.0.0.1:${echo.port}`, 'test-sshd'], { env: { PS1: '$ ' } });
  let held: net.Socket | undefined;
  try {
    pty.type('echo shell-$((6*7))');
    await pty.waitFor('shell-42');
    held = net.connect(port, '127.0.0.1');
    await once(held, 'connect');
    held.write('x');
    await once(held, 'data'); // the tunnel carries it before the shell ends
    pty.type('exit 3');
    await pty.waitFor('waiting for 1 forwarded connection(s) to close');
    // Still forwarding, and still accepting: a new connection, then the held one, intact.
    const payload = randomBytes(1 << 20);
    assert.equal(sha256(await roundTrip(net.connect(port, '127.0.0.1'), payload)), sha256(payload));
    assert.equal(sha256(await roundTrip(held, payload)), sha256(payload));
    const { code } = await pty.wait();
    assert.equal(code, 3);
    const free = net.createServer();
    await new Promise<void>((resolve, reject) => free.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    free.close();
  } finally {
    held?.destroy();
    pty.kill('SIGKILL');
    await echo.close();
    await sshd.stop();
  }
});

async function twoFactorServer(code = '424242') {
  const attempts: string[][] = [];
  const srv = await startDemoSshServer({
    keyboardInteractive: {
      prompts: [{ prompt: 'First Factor: ' }, { prompt: 'Second Factor: ' }],
      oneAtATime: true,
      check: (_user, answers) => {
        attempts.push(answers);
        return answers[0] === 'hunter2' && answers[1] === code;
      },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'burrow-2fa-'));
  const kh = join(dir, 'known_hosts');
  writeFileSync(kh, `${srv.hostKeyLine()}\n`);
  const cfg = join(dir, 'config');
  writeFileSync(cfg, `Host cluster\n  HostName ${srv.host}\n  Port ${srv.port}\n  User alice\n  UserKnownHostsFile ${kh}\n  StrictHostKeyChecking yes\n  IdentityFile ${join(dir, 'none')}\n`);
  return { srv, cfg, attempts, close: async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); } };
}

type TwoFactorSite = Awaited<ReturnType<typeof twoFactorServer>>;

/** `burrow -N <forwards> cluster` in a PTY against a 2FA server; both gone afterwards. */
async function atTwoFactor(forwards: string[], body: (pty: ReturnType<typeof spawnPty>, site: TwoFactorSite) => Promise<void>): Promise<void> {
  const site = await twoFactorServer();
  const pty = spawnPty(process.execPath, [BIN, '-F', site.cfg, '-N', ...forwards, 'cluster']);
  try {
    await body(pty, site);
  } finally {
    pty.kill('SIGKILL');
    await site.close();
  }
}

test('2FA prompts appear verbatim, once for several tunnels, and answers are not echoed', async () => {
  await atTwoFactor(['-L', '0:127.0.0.1:9', '-L', '0:127.0.0.1:9', '-D', '0'], async (pty, site) => {
      await pty.answer('First Factor: ', 'hunter2');
      await pty.answer('Second Factor: ', '424242');
      await pty.waitFor('cluster: connected');
      assert.match(pty.transcript, /SOCKS via cluster/);
      assert.equal(pty.transcript.split('First Factor').length - 1, 1, 'one prompt for three tunnels');
      assert.doesNotMatch(pty.transcript, /hunter2|424242/);
      assert.equal(site.attempts.length, 1);
      pty.write('\x03');
      assert.equal((await pty.wait()).code, 0);
  });
});

/** The line the cursor is on, as a terminal shows it: `\r` goes back to its start, ESC[K erases to its end. */
function currentLine(raw: string): string {
  const last = raw.slice(raw.lastIndexOf('\n') + 1);
  let line = '';
  let col = 0;
  // eslint-disable-next-line no-control-regex
  for (const [tok] of last.matchAll(/\x1b\[[0-9;?]*[ -/]*[@-~]|[^\x1b]/gu)) {
    if (tok === '\r') col = 0;
    else if (tok === '\x1b[K') line = line.slice(0, col);
    else if (!tok.startsWith('\x1b')) {
      line = line.slice(0, col) + tok + line.slice(col + 1);
      col++;
    }
  }
  return line;
}

test('while a code is asked, the live status line stays off the prompt; it comes back once connected', async () => {
  await atTwoFactor(['-L', '0:127.0.0.1:9'], async (pty) => {
      await pty.answer('First Factor: ', 'hunter2');
      await pty.waitFor('Second Factor: ');
      // A person takes a while to read a code off a phone: the status line is rewritten
      // every second meanwhile (it used to be drawn after the prompt, then wipe it).
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(currentLine(pty.rawTranscript), 'Second Factor: ');
      pty.write('424242\r');
      await pty.waitFor('cluster: connected');
      await pty.waitFor('(Ctrl-C to stop)');
      pty.write('\x03');
      assert.equal((await pty.wait()).code, 0);
  });
});

test('Ctrl-C at a code prompt stops burrow as interrupted, and the server is sent no answer (no failed login counted)', async () => {
  await atTwoFactor(['-L', '0:127.0.0.1:9'], async (pty, site) => {
      await pty.answer('First Factor: ', 'hunter2');
      await pty.waitFor('Second Factor: ');
      pty.write('\x03');
      assert.equal((await pty.wait()).code, 130);
      assert.doesNotMatch(pty.transcript, /permission denied/);
      assert.equal(site.attempts.length, 0, 'no answers sent');
  });
});

test('a wrong one-time code fails once with a clear error, no second try', async () => {
  await atTwoFactor(['-L', '0:127.0.0.1:9'], async (pty, site) => {
      await pty.answer('First Factor: ', 'hunter2');
      await pty.answer('Second Factor: ', '000000');
      const { code } = await pty.wait();
      assert.equal(code, 255);
      assert.match(pty.transcript, /permission denied/);
      assert.equal(site.attempts.length, 1);
      assert.equal(pty.transcript.split('First Factor').length - 1, 1);
  });
});

test('StrictHostKeyChecking ask shows the fingerprint like OpenSSH and records the key on yes', async () => {
  const sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), 'burrow-ask-'));
  const kh = join(dir, 'known_hosts');
  const pty = spawnPty(process.execPath, [BIN, '-F', sshd.sshConfigFile, '-o', `UserKnownHostsFile=${kh}`, '-o', 'StrictHostKeyChecking=ask', '-o', 'BatchMode=no', 'test-sshd', 'echo', 'asked-ok']);
  try {
    await pty.waitFor(/ED25519 key fingerprint is SHA256:[A-Za-z0-9+/]{43}/);
    await pty.answer('(yes/no/[fingerprint])?', 'yes');
    await pty.waitFor('asked-ok');
    assert.equal((await pty.wait()).code, 0);
    const { readFileSync } = await import('node:fs');
    assert.match(readFileSync(kh, 'utf8'), new RegExp(`^\\[${sshd.host}\\]:${sshd.port} ssh-ed25519 `, 'm'));
  } finally {
    pty.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await sshd.stop();
  }
});
