/**
 * What both OpenSSH and burrow reject: each bad config must make `ssh -G` fail and
 * make resolveHost throw CONFIG naming the file and line; each accepted oddity must
 * pass both.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBurrowError } from '../../errors.js';
import { sshG } from './fixtures/ssh-g.js';
import { resolveHost, type ResolveOptions } from './index.js';

const HOME = os.userInfo().homedir;
let dir = '';
let n = 0;

before(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'burrow-sshcfg-err-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  const f = join(dir, `c${n++}.conf`);
  writeFileSync(f, text);
  return f;
}

/** [config, line of the error] */
const badConfigs: [string, number][] = [
  ['Host x\n  Port abc\n', 2],
  ['Host x\n  Port 0\n', 2],
  ['Host x\n  Port 65536\n', 2],
  ['Host x\n  Port 22 23\n', 2],
  ['Host x\n  Bogus yes\n', 2],
  ['Host x\n  HostName\n', 2],
  ['Host x\n  LocalForward 8080\n', 2],
  ['Host x\n  RemoteForward 80 localhost:notaport\n', 2],
  ['Host x\n  DynamicForward 1080 localhost:80\n', 2],
  ['Host x\n  ServerAliveInterval 5x\n', 2],
  ['Host x\n  ServerAliveCountMax -1\n', 2],
  ['Host x\n  ConnectTimeout soon\n', 2],
  ['Host x\n  StrictHostKeyChecking maybe\n', 2],
  ['Host x\n  ExitOnForwardFailure maybe\n', 2],
  ['Host x\n  AddressFamily ipx\n', 2],
  ['Host x\n  User "abc\n', 2],
  ['Host x\n  UserKnownHostsFile a none\n', 2],
  ['Host x\n  ProxyJump bad@\n', 2],
  ['Host x\n  ProxyJump a:notaport\n', 2],
  ['# comment\nMatch foo bar\n', 2],
  ['Match all host x\n', 1],
  ['Match host\n', 1],
  ['Match\n', 1],
  // Values are checked in blocks that do not apply too.
  ['Host other\n  Port abc\n', 2],
  ['Host x\nInclude @DIR@/bad-include.conf\n', 1],
];

describe('rejected by both ssh -G and resolveHost', () => {
  before(() => writeFileSync(join(dir, 'bad-include.conf'), 'Host *\n  Port abc\n'));

  for (const [text, line] of badConfigs) {
    it(JSON.stringify(text), async () => {
      const file = write(text.replace('@DIR@', dir));
      const opts: ResolveOptions = { configFile: file, homeDir: HOME };
      await assert.rejects(sshG('x', opts, process.env), /ssh -G failed/);
      const err = await resolveHost('x', opts).then(
        () => assert.fail('resolveHost accepted it'),
        (e: unknown) => e,
      );
      assert.ok(isBurrowError(err, 'CONFIG'), String(err));
      const where = text.includes('@DIR@') ? join(dir, 'bad-include.conf') : file;
      const expectedLine = text.includes('@DIR@') ? 2 : line;
      assert.equal(err.details.file, where);
      assert.equal(err.details.line, expectedLine);
      assert.ok(err.message.startsWith(`${where}:${expectedLine}: `), err.message);
    });
  }

  it('an unknown %token in HostName', async () => {
    const opts: ResolveOptions = { configFile: write('Host x\n  HostName %z.example.org\n'), homeDir: HOME };
    await assert.rejects(sshG('x', opts, process.env), /ssh -G failed/);
    await assert.rejects(resolveHost('x', opts), (e) => isBurrowError(e, 'CONFIG') && /%z/.test(e.message));
  });

  it('a missing -F file', async () => {
    const file = join(dir, 'does-not-exist.conf');
    const opts: ResolveOptions = { configFile: file, homeDir: HOME };
    await assert.rejects(sshG('x', opts, process.env), /ssh -G failed/);
    // The file as a whole, not a line 0 of it.
    await assert.rejects(resolveHost('x', opts), (e) => isBurrowError(e, 'CONFIG') && e.message === `${file}: config file not found; check the -F path`);
  });

  for (const [dest, opts] of [
    ['a,b', {}],
    ['a b', {}],
    ['bad;user@x', {}],
    ['x', { user: "o'brien" }],
    ['x', { options: ['User=-oops'] }],
  ] as [string, ResolveOptions][]) {
    it(`command-line names ssh refuses: ${dest} ${JSON.stringify(opts)}`, async () => {
      const o = { ...opts, configFile: write('Host *\n  Port 22\n'), homeDir: HOME };
      await assert.rejects(sshG(dest, o, process.env), /ssh -G failed/);
      await assert.rejects(resolveHost(dest, o), (e) => isBurrowError(e, 'USAGE'));
    });
  }

  for (const opt of ['Host=x', 'Match=all', 'Include /etc/ssh/ssh_config', 'NoSuchOption=1', 'Port=abc']) {
    it(`-o ${opt}`, async () => {
      const o: ResolveOptions = { options: [opt], configFile: 'none', homeDir: HOME };
      await assert.rejects(sshG('x', o, process.env), /ssh -G failed/);
      await assert.rejects(resolveHost('x', o), (e) => isBurrowError(e, 'CONFIG') && e.message.startsWith('-o option: '));
    });
  }
});

describe('accepted by both', () => {
  for (const text of [
    'IgnoreUnknown Bogus*,Other\nBogusKey 1\nHost x\n  Other thing\n',
    'Host x\n  ForwardX11 yes\n  ControlMaster auto\n  ControlPath ~/.ssh/cm-%C\n',
    'Host x\n  Port=2222 # trailing comment\n\n\t\n# only a comment\n',
    'Host x\n  Protocol 2\n  UseRoaming no\n',
    'Match host x all\n  Port 2\n',
  ]) {
    it(JSON.stringify(text), async () => {
      const opts: ResolveOptions = { configFile: write(text), homeDir: HOME };
      const g = await sshG('x', opts, process.env);
      const r = await resolveHost('x', opts);
      assert.equal(r.port, Number(g.get('port')?.[0]));
    });
  }
});
