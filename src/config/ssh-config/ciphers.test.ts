/**
 * `Ciphers` against the real `ssh -G`: given OpenSSH's own default list, burrow's
 * assembly of `list`, `+list`, `^list` and `-patterns` must give what ssh prints; and
 * the resolved host carries the list built on ssh2's defaults (fails, never skips,
 * without /usr/bin/ssh).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBurrowError } from '../../errors.js';
import { assembleCiphers, cipherSpecProblem, defaultCiphers, supportedCiphers } from './ciphers.js';
import { sshG } from './fixtures/ssh-g.js';
import { resolveHost } from './index.js';

const HOME = os.userInfo().homedir;
let dir = '';
let n = 0;
before(() => (dir = mkdtempSync(join(os.tmpdir(), 'burrow-ciphers-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  const f = join(dir, `c${n++}.conf`);
  writeFileSync(f, text);
  return f;
}

async function sshCiphers(text: string, options: string[] = []): Promise<string[]> {
  const g = await sshG('x', { configFile: write(text), homeDir: HOME, options }, process.env);
  return (g.get('ciphers')?.[0] ?? '').split(',');
}

describe('Ciphers assembled as ssh does', () => {
  for (const spec of [
    'aes256-ctr,aes128-gcm@openssh.com,aes256-ctr',
    '+aes128-cbc',
    '+aes128-ctr,aes256-cbc',
    '^aes256-gcm@openssh.com',
    '^aes128-cbc,chacha20-poly1305@openssh.com',
    '-aes*-ctr',
    '-*gcm*,chacha20-poly1305@openssh.com',
  ]) {
    it(spec, async () => {
      const opensshDefault = await sshCiphers('Host x\n');
      assert.deepEqual(assembleCiphers(spec, opensshDefault), await sshCiphers(`Host x\n  Ciphers ${spec}\n`));
    });
  }

  it('the first Ciphers obtained wins, and -o comes before the files', async () => {
    const text = 'Host x\n  Ciphers aes256-ctr\nHost *\n  Ciphers aes128-ctr\n';
    assert.deepEqual(await sshCiphers(text), ['aes256-ctr']);
    assert.deepEqual((await resolveHost('x', { configFile: write(text), homeDir: HOME })).ciphers, ['aes256-ctr']);
    const opts = { configFile: write(text), homeDir: HOME, options: ['Ciphers=^chacha20-poly1305@openssh.com'] };
    assert.deepEqual((await resolveHost('x', opts)).ciphers, ['chacha20-poly1305@openssh.com', ...defaultCiphers().filter((c) => c !== 'chacha20-poly1305@openssh.com')]);
  });

  it('no Ciphers line: ssh2 picks its default order', async () => {
    assert.equal((await resolveHost('x', { configFile: write('Host x\n  Port 22\n'), homeDir: HOME })).ciphers, undefined);
  });

  for (const [spec, message] of [
    ['nope', /unknown cipher 'nope'; burrow supports aes128-gcm@openssh\.com/],
    ['+aes128-ctr,nope,worse', /unknown ciphers 'nope', 'worse'/],
    ['-*', /leaves no cipher to offer/],
  ] as const) {
    it(`refuses ${spec} with the file and line, as ssh does`, async () => {
      const file = write(`Host other\n  Ciphers ${spec}\n`);
      // ssh checks the names but lets a '-' list empty the set until it connects.
      if (!spec.startsWith('-')) await assert.rejects(sshG('x', { configFile: file, homeDir: HOME }, process.env), /ssh -G failed/);
      await assert.rejects(resolveHost('x', { configFile: file, homeDir: HOME }), (e: unknown) => isBurrowError(e, 'CONFIG') && e.message.startsWith(`${file}:2: Ciphers '${spec}' `) && message.test(e.message));
    });
  }

  it('every name burrow offers by default is one it supports', () => {
    for (const c of defaultCiphers()) assert.ok(supportedCiphers().includes(c), c);
    assert.equal(cipherSpecProblem(''), 'is empty');
  });
});
