/**
 * `Ciphers`, `MACs` and `KexAlgorithms` against the real `ssh -G`: given OpenSSH's own
 * default and supported lists, burrow's assembly of `list`, `+list`, `^list` and
 * `-patterns` must give what ssh prints; and the resolved host carries the list built on
 * ssh2's (fails, never skips, without /usr/bin/ssh).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBurrowError } from '../../errors.js';
import { algorithmSpecProblem, assembleAlgorithms, defaultAlgorithms, supportedAlgorithms, type AlgorithmKind } from './algorithms.js';
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

const G_KEY: Record<AlgorithmKind, string> = { cipher: 'ciphers', mac: 'macs', kex: 'kexalgorithms' };

async function sshList(kind: AlgorithmKind, text: string, options: string[] = []): Promise<string[]> {
  const g = await sshG('x', { configFile: write(text), homeDir: HOME, options }, process.env);
  return (g.get(G_KEY[kind])?.[0] ?? '').split(',');
}
/** What this ssh implements (`ssh -Q`). */
const sshSupported = (kind: AlgorithmKind): string[] => execFileSync('ssh', ['-Q', kind], { encoding: 'utf8' }).trim().split('\n');

describe('Ciphers, MACs and KexAlgorithms assembled as ssh does', () => {
  for (const [kind, keyword, spec] of [
    ['cipher', 'Ciphers', 'aes256-ctr,aes128-gcm@openssh.com,aes256-ctr'],
    ['cipher', 'Ciphers', '+aes128-cbc'],
    ['cipher', 'Ciphers', '+aes128-ctr,aes256-cbc'],
    ['cipher', 'Ciphers', '^aes256-gcm@openssh.com'],
    ['cipher', 'Ciphers', '^aes128-cbc,chacha20-poly1305@openssh.com'],
    ['cipher', 'Ciphers', '-aes*-ctr'],
    ['cipher', 'Ciphers', '-*gcm*,chacha20-poly1305@openssh.com'],
    ['mac', 'MACs', 'hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com'],
    ['mac', 'MACs', '^hmac-sha1'],
    ['mac', 'MACs', '-umac*,*-sha1*'],
    ['kex', 'KexAlgorithms', 'sntrup761x25519-sha512@openssh.com,curve25519-sha256'],
    ['kex', 'KexAlgorithms', '+diffie-hellman-group14-sha1'],
    ['kex', 'KexAlgorithms', '-ecdh-*'],
  ] as const) {
    it(`${keyword} ${spec}`, async () => {
      const opensshDefault = await sshList(kind, 'Host x\n');
      assert.deepEqual(assembleAlgorithms(kind, spec, opensshDefault, sshSupported(kind)), await sshList(kind, `Host x\n  ${keyword} ${spec}\n`));
    });
  }

  it('names OpenSSH knows and ssh2 lacks are left out of what burrow offers', async () => {
    const text = 'Host x\n  MACs umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n  KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256\n';
    const r = await resolveHost('x', { configFile: write(text), homeDir: HOME });
    assert.deepEqual(r.macs, ['hmac-sha2-256-etm@openssh.com']);
    assert.deepEqual(r.kexAlgorithms, ['curve25519-sha256']);
    const only = write('Host x\n  MACs umac-128-etm@openssh.com\n');
    await assert.rejects(resolveHost('x', { configFile: only, homeDir: HOME }), (e: unknown) => isBurrowError(e, 'CONFIG') && /MACs 'umac-128-etm@openssh.com' leaves no MAC burrow supports/.test(e.message));
  });

  it('the first Ciphers obtained wins, and -o comes before the files', async () => {
    const text = 'Host x\n  Ciphers aes256-ctr\nHost *\n  Ciphers aes128-ctr\n';
    assert.deepEqual(await sshList('cipher', text), ['aes256-ctr']);
    assert.deepEqual((await resolveHost('x', { configFile: write(text), homeDir: HOME })).ciphers, ['aes256-ctr']);
    const opts = { configFile: write(text), homeDir: HOME, options: ['Ciphers=^chacha20-poly1305@openssh.com'] };
    assert.deepEqual((await resolveHost('x', opts)).ciphers, ['chacha20-poly1305@openssh.com', ...defaultAlgorithms('cipher').filter((c) => c !== 'chacha20-poly1305@openssh.com')]);
  });

  it('no Ciphers line: ssh2 picks its default order', async () => {
    assert.equal((await resolveHost('x', { configFile: write('Host x\n  Port 22\n'), homeDir: HOME })).ciphers, undefined);
  });

  for (const [keyword, spec, message] of [
    ['Ciphers', 'nope', /unknown cipher 'nope'; burrow supports aes128-gcm@openssh\.com/],
    ['Ciphers', '+aes128-ctr,nope,worse', /unknown ciphers 'nope', 'worse'/],
    ['Ciphers', '-*', /leaves no cipher burrow supports/],
    ['MACs', 'hmac-sha3', /unknown MAC 'hmac-sha3'/],
    ['KexAlgorithms', '^curve448', /unknown key exchange 'curve448'/],
  ] as const) {
    it(`refuses ${keyword} ${spec} with the file and line, as ssh does`, async () => {
      const file = write(`Host other\n  ${keyword} ${spec}\n`);
      // ssh checks the names but lets a '-' list empty the set until it connects.
      if (!spec.startsWith('-')) await assert.rejects(sshG('x', { configFile: file, homeDir: HOME }, process.env), /ssh -G failed/);
      await assert.rejects(resolveHost('x', { configFile: file, homeDir: HOME }), (e: unknown) => isBurrowError(e, 'CONFIG') && e.message.startsWith(`${file}:2: ${keyword} '${spec}' `) && message.test(e.message));
    });
  }

  it('every name burrow offers by default is one it supports', () => {
    for (const kind of ['cipher', 'mac', 'kex'] as const) {
      for (const a of defaultAlgorithms(kind)) assert.ok(supportedAlgorithms(kind).includes(a), a);
    }
    assert.equal(algorithmSpecProblem('cipher', ''), 'is empty');
  });
});
