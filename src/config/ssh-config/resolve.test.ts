/**
 * Differential tests: for each config in fixtures/ and each destination, burrow's
 * resolveHost must agree with the real `ssh -G` on every field burrow uses. These
 * fail (never skip) when /usr/bin/ssh is missing.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveHost, type ResolveOptions } from './index.js';
import { fromBurrow, fromSshG, sshG } from './fixtures/ssh-g.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
// ssh expands ~ from the passwd entry, not $HOME.
const HOME = os.userInfo().homedir;
const ENV = { ...process.env, BURROW_TEST_KEYDIR: '/opt/burrow-keys' };
let dir = '';

/** Copies fixtures into a temp dir, replacing @DIR@ so Include paths are absolute. */
function stageFixtures(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'burrow-sshcfg-'));
  cpSync(FIXTURES, d, { recursive: true });
  const walk = (p: string): void => {
    for (const n of readdirSync(p)) {
      const f = join(p, n);
      if (statSync(f).isDirectory()) walk(f);
      else if (f.endsWith('.conf')) writeFileSync(f, readFileSync(f, 'utf8').replaceAll('@DIR@', d));
    }
  };
  walk(d);
  // ssh drops -i files that do not exist, so the -i cases use real (empty) files.
  mkdirSync(join(d, 'keys'));
  for (const k of ['id_one', 'id_two']) writeFileSync(join(d, 'keys', k), '');
  return d;
}

interface Case {
  file: string;
  dest: string;
  opts?: Omit<ResolveOptions, 'configFile'>;
}

const cases: Case[] = [
  ...['mahuika', 'lander', 'elsewhere', 'cwal219@mahuika', 'someone@lander', 'ssh://bob@mahuika:2200', 'MAHUIKA'].map(
    (dest) => ({ file: 'article.conf', dest }),
  ),
  ...[
    'mahuika.nesi.org.nz',
    'lander.nesi.org.nz',
    'login1',
    'login12',
    'build-x',
    'web',
    'eq',
    'a',
    'MixedCase',
    'mixedcase',
    'zzz',
  ].map((dest) => ({ file: 'wildcards.conf', dest })),
  ...['mahuika', 'bob@mahuika', 'alice@www.example.org', 'fin', 'x.final.example', 'other', 'bobcat'].map((dest) => ({
    file: 'match.conf',
    dest,
  })),
  ...['inc-top', 'inc-a', 'blockinc', 'never-matches', 'after', 'plain'].map((dest) => ({ file: 'include.conf', dest })),
  ...['tok', 'tok2', 'none-keys', 'glob-known'].map((dest) => ({ file: 'tokens.conf', dest })),
  ...['alias', 'real.example', 'other'].map((dest) => ({ file: 'canonical.conf', dest })),
  ...['fwd', 'fwd2', 'clear'].map((dest) => ({ file: 'forwards.conf', dest })),
  ...['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'jx'].map((dest) => ({ file: 'proxy.conf', dest })),
  // Command-line overrides: -o first, then -l/-p/-i, then the destination's user and port.
  { file: 'article.conf', dest: 'mahuika', opts: { options: ['User=ouser', 'Port 2022'] } },
  { file: 'article.conf', dest: 'mahuika', opts: { user: 'luser', port: 2223 } },
  { file: 'article.conf', dest: 'dest@mahuika', opts: { user: 'luser' } },
  { file: 'article.conf', dest: 'mahuika', opts: { options: ['User=ouser'], user: 'luser' } },
  { file: 'article.conf', dest: 'ssh://u@mahuika:2444', opts: { port: 2555 } },
  { file: 'article.conf', dest: 'mahuika', opts: { options: ['ProxyJump=jumphost'] } },
  { file: 'article.conf', dest: 'mahuika', opts: { options: ['ProxyCommand none', 'ServerAliveInterval=15'] } },
  {
    file: 'article.conf',
    dest: 'mahuika',
    opts: { options: ['LocalForward=1234 localhost:1234', 'UserKnownHostsFile /dev/null', 'StrictHostKeyChecking=no'] },
  },
  {
    file: 'article.conf',
    dest: 'lander',
    opts: { identityFiles: ['@DIR@/keys/id_one', '@DIR@/keys/id_two'], options: ['IdentityFile=/k/three_%h'] },
  },
  { file: 'tokens.conf', dest: 'tok', opts: { identityFiles: ['@DIR@/keys/id_two'] } },
  { file: 'match.conf', dest: 'www.example.org', opts: { user: 'alice' } },
  { file: 'match.conf', dest: 'mahuika', opts: { options: ['HostName=other.example.org'] } },
  { file: 'wildcards.conf', dest: 'zzz', opts: { options: ['batchmode no', 'AddressFamily=inet6', 'GatewayPorts=no'] } },
];

before(() => {
  dir = stageFixtures();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the article example', () => {
  it('resolves mahuika through lander with the forward and keepalive settings', async () => {
    const file = join(dir, 'article.conf');
    const r = await resolveHost('mahuika', { configFile: file, homeDir: HOME, localUser: 'me' });
    assert.equal(r.alias, 'mahuika');
    assert.equal(r.hostname, 'login.mahuika.nesi.org.nz');
    assert.equal(r.user, 'cwal219');
    assert.equal(r.proxyCommand, 'ssh -W login.mahuika.nesi.org.nz:22 lander');
    assert.deepEqual(r.localForwards, ['6676 mahuika:6676']);
    assert.equal(r.exitOnForwardFailure, true);
    assert.equal(r.serverAliveInterval, 300);
    assert.equal(r.serverAliveCountMax, 2);
    assert.deepEqual(r.unsupported, ['forwardx11', 'forwardx11trusted']);
    assert.deepEqual(r.configFiles, [file]);
    assert.equal((await resolveHost('lander', { configFile: file, homeDir: HOME })).hostname, 'lander.nesi.org.nz');
  });
});

describe('resolveHost agrees with ssh -G', () => {
  for (const c of cases) {
    const label = `${c.file} ${c.dest}${c.opts ? ` ${JSON.stringify(c.opts)}` : ''}`;
    it(label, async () => {
      const opts: ResolveOptions = { ...c.opts, configFile: join(dir, c.file), homeDir: HOME, env: ENV };
      if (opts.identityFiles) opts.identityFiles = opts.identityFiles.map((f) => f.replace('@DIR@', dir));
      const expected = fromSshG(await sshG(c.dest, opts, ENV), c.dest.replace(/^.*@|^ssh:\/\/|:\d+$/g, ''), HOME, ENV);
      const actual = fromBurrow(await resolveHost(c.dest, opts));
      assert.deepEqual(actual, expected);
    });
  }

  it('defaults with -F none', async () => {
    const opts: ResolveOptions = { configFile: 'none', homeDir: HOME, env: ENV };
    const expected = fromSshG(await sshG('plain.example.org', opts, ENV), 'plain.example.org', HOME, ENV);
    assert.deepEqual(fromBurrow(await resolveHost('plain.example.org', opts)), expected);
  });
});
