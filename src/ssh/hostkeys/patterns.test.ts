import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashHostName, hostFieldMatches, knownHostsName, matchHashed, matchPatternList, wildcardMatch } from './patterns.js';

test('knownHostsName: bare for port 22, [host]:port otherwise, lower-cased', () => {
  assert.equal(knownHostsName('Mahuika.NeSI.org.nz', 22), 'mahuika.nesi.org.nz');
  assert.equal(knownHostsName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  assert.equal(knownHostsName('::1', 2222), '[::1]:2222');
});

test('wildcardMatch: * and ? as OpenSSH match_pattern', () => {
  assert.ok(wildcardMatch('login1.cluster', '*.cluster'));
  assert.ok(wildcardMatch('login1.cluster', 'login?.cluster'));
  assert.ok(!wildcardMatch('login12.cluster', 'login?.cluster'));
  assert.ok(wildcardMatch('', '*'));
  assert.ok(wildcardMatch('abc', 'a*b*c'));
  assert.ok(!wildcardMatch('abd', 'a*c'));
  assert.ok(wildcardMatch('[10.0.0.1]:2222', '[10.0.0.*]:2222'));
  assert.ok(!wildcardMatch('[10.0.0.1]:2222', '10.0.0.1'));
  // Pathological patterns stay fast (no exponential backtracking).
  assert.ok(!wildcardMatch('a'.repeat(5000), '*a*a*a*a*a*a*a*a*b'));
});

test('matchPatternList: lists, case, negation vetoes', () => {
  assert.ok(matchPatternList('mahuika', 'maui,mahuika'));
  assert.ok(matchPatternList('MAHUIKA', 'Mahuika'));
  assert.ok(matchPatternList('login2.nesi', '*.nesi,!login1.nesi'));
  assert.ok(!matchPatternList('login1.nesi', '*.nesi,!login1.nesi'));
  assert.ok(!matchPatternList('login1.nesi', '!login1.nesi,*.nesi'), 'negation wins whatever its place');
  assert.ok(!matchPatternList('other', '!login1.nesi'), 'negation alone matches nothing');
  assert.ok(!matchPatternList('mahuika', 'mahuika.nesi'));
});

test('hashHostName / matchHashed round trip and reject others', () => {
  const salt = Buffer.alloc(20, 7);
  const field = hashHostName('[127.0.0.1]:2222', salt);
  assert.match(field, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+$/);
  assert.ok(matchHashed('[127.0.0.1]:2222', field));
  assert.ok(!matchHashed('127.0.0.1', field));
  assert.ok(!matchHashed('[127.0.0.1]:2222', '|1|short|bad'));
  assert.ok(!matchHashed('x', '|2|abc|def'));
  assert.notEqual(hashHostName('a'), hashHostName('a'), 'a fresh salt each time');
});

test('hashed names written by ssh-keygen -H match, and only their own host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'burrow-hk-'));
  try {
    const file = join(dir, 'known_hosts');
    const key = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    writeFileSync(file, `mahuika.nesi.org.nz ssh-ed25519 ${key}\n[127.0.0.1]:2222 ssh-ed25519 ${key}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const fields = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(' ')[0] ?? '');
    assert.equal(fields.length, 2);
    const [first, second] = fields as [string, string];
    assert.ok(hostFieldMatches('mahuika.nesi.org.nz', first));
    assert.ok(!hostFieldMatches('maui.nesi.org.nz', first));
    assert.ok(hostFieldMatches('[127.0.0.1]:2222', second));
    assert.ok(!hostFieldMatches('127.0.0.1', second), 'port 22 name must not match the [host]:port entry');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hashed name of ours is found by ssh-keygen -F', () => {
  const dir = mkdtempSync(join(tmpdir(), 'burrow-hk-'));
  try {
    const file = join(dir, 'known_hosts');
    const key = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    writeFileSync(file, `${hashHostName('[127.0.0.1]:2222')} ssh-ed25519 ${key}\n`);
    const out = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', file], { encoding: 'utf8' });
    assert.match(out, /found: line 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
