import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { alive, startSshd, SSH } from './sshd.js';
import { until } from './wait.js';

test('the sshd harness accepts the throwaway key and verifies its host key', async () => {
  const sshd = await startSshd();
  try {
    const out = execFileSync(SSH, ['-F', sshd.sshConfigFile, 'test-sshd', 'echo', 'harness-ok'], { encoding: 'utf8' });
    assert.equal(out.trim(), 'harness-ok');
    assert.ok(sshd.authAttempts().some((l) => l.includes('Accepted publickey')));
  } finally {
    await sshd.stop();
  }
  assert.equal(existsSync(sshd.dir), false);
});

test('an sshd whose test process dies unstopped goes with it, and the next start removes its dir', async () => {
  // A test file killed by the runner runs no `after` hook: its sshd must not outlive it.
  const script = `import { startSshd } from ${JSON.stringify(new URL('./sshd.ts', import.meta.url).href)};
const s = await startSshd();
console.log(JSON.stringify({ pid: s.process.pid, dir: s.dir, port: s.port }));
setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const started = JSON.parse(line) as { pid: number; dir: string; port: number };
    assert.equal(alive(started.pid), true);
    // A dir whose owner lives (this one, paused) is not swept by another start.
    const paused = await startSshd();
    await paused.pause();
    child.kill('SIGKILL');
    await until('sshd to die with its parent', () => !alive(started.pid));
    await assert.rejects(connectOnce(started.port), { code: 'ECONNREFUSED' });
    assert.equal(existsSync(started.dir), true);
    const next = await startSshd();
    await next.stop();
    assert.equal(existsSync(started.dir), false);
    assert.equal(existsSync(paused.dir), true);
    await paused.restart();
    await paused.stop();
  } finally {
    child.kill('SIGKILL');
  }
});

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
}
