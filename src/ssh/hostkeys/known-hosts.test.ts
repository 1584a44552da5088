import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendKnownHost, lookupKnownHosts, matchEntries, parseKnownHosts } from './known-hosts.js';
import { fingerprintSha256, keyTypeOf } from './keyblob.js';

let dir: string;
/** A fresh key pair made by ssh-keygen; `line` is the .pub line "type base64 comment". */
function keygen(type: 'ed25519' | 'rsa' | 'ecdsa', name: string): { blob: Buffer; b64: string; pubFile: string } {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', path], { stdio: 'ignore' });
  const pubFile = `${path}.pub`;
  const b64 = readFileSync(pubFile, 'utf8').split(' ')[1] ?? '';
  return { blob: Buffer.from(b64, 'base64'), b64, pubFile };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-kh-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('keyblob', () => {
  test('fingerprint is exactly what ssh-keygen -lf prints, for several key types', () => {
    for (const type of ['ed25519', 'rsa', 'ecdsa'] as const) {
      const k = keygen(type, `fp-${type}`);
      const printed = execFileSync('ssh-keygen', ['-lf', k.pubFile], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(fingerprintSha256(k.blob), printed);
    }
  });

  test('key type comes from the blob', () => {
    assert.equal(keyTypeOf(keygen('ed25519', 'kt-ed').blob), 'ssh-ed25519');
    assert.equal(keyTypeOf(keygen('rsa', 'kt-rsa').blob), 'ssh-rsa');
    assert.equal(keyTypeOf(keygen('ecdsa', 'kt-ec').blob), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOf(Buffer.from([0, 0, 0])), undefined);
    assert.equal(keyTypeOf(Buffer.from([0, 0, 0, 9, 0x61])), undefined);
  });
});

describe('parseKnownHosts', () => {
  test('comments, blank lines, markers, patterns, comments, CRLF and bad lines', () => {
    const a = keygen('ed25519', 'p-a');
    const b = keygen('rsa', 'p-b');
    const text = [
      '# a comment',
      '',
      `   mahuika,mahuika.nesi.org.nz,!evil.nesi.org.nz ssh-ed25519 ${a.b64} admin@nesi`,
      `@revoked * ssh-rsa ${b.b64}`,
      `@cert-authority *.nesi.org.nz ssh-ed25519 ${a.b64}\r`,
      `[127.0.0.1]:2222 ssh-rsa ${b.b64} two word comment`,
      '@bogus host ssh-ed25519 AAAA',
      'lonelyhost',
      `host ssh-rsa ${a.b64}`,
      'host ssh-ed25519 !!!notbase64!!!',
      '1024 35 12345 rsa1host',
      '\t# indented comment',
    ].join('\n');
    const f = parseKnownHosts(text, '/kh');
    assert.deepEqual(
      f.entries.map((e) => [e.line, e.marker, e.hosts, e.keyType, e.comment]),
      [
        [3, undefined, 'mahuika,mahuika.nesi.org.nz,!evil.nesi.org.nz', 'ssh-ed25519', 'admin@nesi'],
        [4, 'revoked', '*', 'ssh-rsa', ''],
        [5, 'cert-authority', '*.nesi.org.nz', 'ssh-ed25519', ''],
        [6, undefined, '[127.0.0.1]:2222', 'ssh-rsa', 'two word comment'],
      ],
    );
    assert.ok(f.entries[0]?.key.equals(a.blob));
    assert.deepEqual(f.problems.map((p) => p.line), [7, 8, 9, 10, 11]);
    assert.match(f.problems[2]?.reason ?? '', /not a ssh-rsa key/);
  });

  test('matchEntries: port 22 uses the bare name, other ports [host]:port', () => {
    const a = keygen('ed25519', 'm-a');
    const f = parseKnownHosts(`127.0.0.1 ssh-ed25519 ${a.b64}\n[127.0.0.1]:2222 ssh-ed25519 ${a.b64}\n`, '/kh');
    assert.deepEqual(matchEntries(f.entries, '127.0.0.1', 22).map((e) => e.line), [1]);
    assert.deepEqual(matchEntries(f.entries, '127.0.0.1', 2222).map((e) => e.line), [2]);
    assert.deepEqual(matchEntries(f.entries, '127.0.0.1', 2223).map((e) => e.line), []);
  });
});

describe('lookupKnownHosts', () => {
  test('finds plain and ssh-keygen -H hashed entries across files with file:line; missing files are empty', async () => {
    const a = keygen('ed25519', 'l-a');
    const b = keygen('ecdsa', 'l-b');
    const user = join(dir, 'user_known_hosts');
    const global = join(dir, 'global_known_hosts');
    writeFileSync(user, `# header\nother ecdsa-sha2-nistp256 ${b.b64}\nlogin.hpc ssh-ed25519 ${a.b64}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', user], { stdio: 'ignore' });
    writeFileSync(global, `*.hpc,!bad.hpc ecdsa-sha2-nistp256 ${b.b64}\nbroken line\n`);
    const problems: string[] = [];
    const found = await lookupKnownHosts([join(dir, 'nope', 'kh'), user, global], 'LOGIN.hpc', 22, (p) =>
      problems.push(`${p.file}:${p.line}`),
    );
    assert.deepEqual(
      found.map((e) => [e.file, e.line, e.keyType, e.hashed]),
      [
        [user, 3, 'ssh-ed25519', true],
        [global, 1, 'ecdsa-sha2-nistp256', false],
      ],
    );
    assert.deepEqual(problems, [`${global}:2`]);
    assert.deepEqual(await lookupKnownHosts([global], 'bad.hpc'), []);
  });
});

describe('appendKnownHost', () => {
  test('creates dir 0700 and file 0600; the line is what ssh-keygen -F finds (plain and hashed)', async () => {
    const a = keygen('ed25519', 'ap-a');
    const file = join(dir, 'new-home', '.ssh', 'known_hosts');
    const line = await appendKnownHost(file, '127.0.0.1', 2222, a.blob);
    assert.equal(line, `[127.0.0.1]:2222 ssh-ed25519 ${a.b64}`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'new-home', '.ssh')).mode & 0o777, 0o700);

    const hashed = await appendKnownHost(file, 'Mahuika', 22, a.blob, { hash: true });
    assert.match(hashed, /^\|1\|[^ ]+ ssh-ed25519 /);
    assert.equal(readFileSync(file, 'utf8'), `${line}\n${hashed}\n`);
    const out = execFileSync('ssh-keygen', ['-F', 'mahuika', '-f', file], { encoding: 'utf8' });
    assert.match(out, /found: line 2/);
    const found = await lookupKnownHosts([file], 'mahuika', 22);
    assert.deepEqual(found.map((e) => e.line), [2]);
  });

  test('adds a missing final newline before appending', async () => {
    const a = keygen('ed25519', 'nl-a');
    const file = join(dir, 'no-newline');
    writeFileSync(file, `old ssh-ed25519 ${a.b64}`);
    await appendKnownHost(file, 'new', 22, a.blob);
    const f = parseKnownHosts(readFileSync(file, 'utf8'), file);
    assert.deepEqual(f.entries.map((e) => e.hosts), ['old', 'new']);
    assert.deepEqual(f.problems, []);
  });
});
