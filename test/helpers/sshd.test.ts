import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startSshd, SSH } from './sshd.js';

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
