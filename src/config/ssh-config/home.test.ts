/**
 * Behaviour that `ssh -G` cannot show without touching the real home directory:
 * the default file locations, `~`, relative Include, the system config, and what
 * burrow reports as unsupported.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBurrowError } from '../../errors.js';
import { resolveHost, type ResolveOptions } from './index.js';

let home = '';
let opts: ResolveOptions;

before(() => {
  home = mkdtempSync(join(os.tmpdir(), 'burrow-home-'));
  mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
  mkdirSync(join(home, 'etc'));
  writeFileSync(
    join(home, '.ssh', 'config'),
    [
      'Include conf.d/*.conf',
      'Host cluster',
      '  IdentityFile ~/.ssh/id_cluster',
      '  IdentityFile ~/.ssh/id_%r@%h-%C',
      '  UserKnownHostsFile ~/.ssh/kh ~',
      '  ForwardX11 yes',
      '  ControlMaster auto',
      '  ForwardX11 no',
      'Match exec "true"',
      '  User via-exec',
      'Host elsewhere',
      '  Compression yes',
      'Match localuser tester',
      '  ServerAliveInterval 30',
    ].join('\n'),
  );
  writeFileSync(join(home, '.ssh', 'conf.d', '10-user.conf'), 'Host cluster\n  User fromconf\n');
  writeFileSync(join(home, 'etc', 'ssh_config'), 'Host *\n  Port 2202\n  StrictHostKeyChecking yes\n');
  opts = { homeDir: home, localUser: 'tester', localHostname: 'laptop.local', systemConfigFile: join(home, 'etc', 'ssh_config') };
});
after(() => rmSync(home, { recursive: true, force: true }));

describe('default config files and ~', () => {
  it('reads ~/.ssh/config, its relative Include and then the system config', async () => {
    const r = await resolveHost('cluster', opts);
    assert.equal(r.user, 'fromconf');
    assert.equal(r.port, 2202);
    assert.equal(r.strictHostKeyChecking, 'yes');
    assert.equal(r.serverAliveInterval, 30);
    const c = createHash('sha1').update('laptop.localcluster2202fromconf').digest('hex');
    assert.deepEqual(r.identityFiles, [`${home}/.ssh/id_cluster`, `${home}/.ssh/id_fromconf@cluster-${c}`]);
    assert.equal(r.identityFilesExplicit, true);
    assert.deepEqual(r.userKnownHostsFiles, [`${home}/.ssh/kh`, `${home}/`]);
  });

  it('reports each unimplemented keyword once, and Match exec as unsupported (not matched)', async () => {
    const r = await resolveHost('cluster', opts);
    assert.deepEqual(r.unsupported, ['forwardx11', 'controlmaster', 'match exec']);
    assert.notEqual(r.user, 'via-exec');
  });

  it('does not report keywords of blocks that do not apply', async () => {
    const r = await resolveHost('other', opts);
    assert.deepEqual(r.unsupported, ['match exec']);
    assert.deepEqual(r.identityFiles.slice(0, 2), [`${home}/.ssh/id_rsa`, `${home}/.ssh/id_ecdsa`]);
    assert.equal(r.identityFilesExplicit, false);
    assert.equal(r.user, 'tester');
  });

  it('-F replaces both files; -F none reads nothing', async () => {
    const f = join(home, 'only.conf');
    writeFileSync(f, 'Host *\n  User only\n');
    assert.equal((await resolveHost('cluster', { ...opts, configFile: f })).port, 22);
    assert.equal((await resolveHost('cluster', { ...opts, configFile: f })).user, 'only');
    assert.equal((await resolveHost('cluster', { ...opts, configFile: 'none' })).user, 'tester');
  });

  it('a system config may not Include from a home directory', async () => {
    const sys = join(home, 'etc', 'bad_config');
    writeFileSync(sys, 'Include ~/.ssh/other\n');
    await assert.rejects(resolveHost('x', { ...opts, systemConfigFile: sys }), (e) => isBurrowError(e, 'CONFIG') && /bad_config:1/.test(e.message));
  });

  it('an Include loop is an error, not a hang', async () => {
    const f = join(home, 'loop.conf');
    writeFileSync(f, `Include ${f}\n`);
    await assert.rejects(resolveHost('x', { ...opts, configFile: f }), (e) => isBurrowError(e, 'CONFIG') && /deeper/.test(e.message));
  });

  it('${VAR} needs the variable; ~user needs the user', async () => {
    const f = join(home, 'env.conf');
    writeFileSync(f, 'Host a\n  IdentityFile ${BURROW_KEYS}/k\nHost b\n  IdentityFile ~no-such-user-xyz/k\n');
    const env = { BURROW_KEYS: '/keys' };
    assert.deepEqual((await resolveHost('a', { ...opts, configFile: f, env })).identityFiles, ['/keys/k']);
    await assert.rejects(resolveHost('a', { ...opts, configFile: f, env: {} }), (e) => isBurrowError(e, 'CONFIG') && /BURROW_KEYS/.test(e.message));
    await assert.rejects(resolveHost('b', { ...opts, configFile: f }), (e) => isBurrowError(e, 'CONFIG') && /no-such-user-xyz/.test(e.message));
  });

  it('keeps -i files that do not exist (ssh drops them with a warning)', async () => {
    const r = await resolveHost('x', { ...opts, configFile: 'none', identityFiles: ['/nonexistent/key'] });
    assert.deepEqual(r.identityFiles, ['/nonexistent/key']);
  });

  it('rejects a bad -p', async () => {
    await assert.rejects(resolveHost('x', { ...opts, port: 70000 }), (e) => isBurrowError(e, 'USAGE'));
  });
});
