// Self-tests of the namespace test site, with plain OpenSSH in the laptop node through a
// PTY. These FAIL (never skip) when not root or when a package is missing: CI runs as root
// with the packages installed.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { LOCK_FILE, SITE_NETNS, preflight, residue, startSite, type Site } from './site.js';

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('namespace test site', { concurrency: false }, () => {
  let site: Site | undefined;
  const need = (): Site => {
    assert.ok(site, 'the site did not come up (see the first failure)');
    return site;
  };

  after(async () => {
    await site?.stop();
  });

  test('prerequisites: root and every package', () => {
    preflight();
  });

  test('comes up', async () => {
    site = await startSite();
    const ms = site.timings.upMs;
    console.log(`# site up in ${ms} ms (after waiting ${site.timings.lockWaitMs} ms for the lock)`);
    assert.ok(ms < 30_000, `site took ${ms} ms to come up`);
    const names = await Promise.all(
      (['laptop', 'lander', 'login', 'c1', 'c2'] as const).map(async (n) => (await site!.exec(n, ['hostname'])).stdout.trim()),
    );
    assert.deepEqual(names, ['laptop', 'lander', 'mahuika', 'c1', 'c2']);
  });

  test('holds the site lock while up', () => {
    need();
    const r = spawnSync('/usr/bin/flock', ['-n', LOCK_FILE, 'true']);
    assert.notEqual(r.status, 0, 'a second site would have to wait');
  });

  test('the laptop reaches lander but not the login node directly (no forwarding on lander)', async () => {
    const s = need();
    const probe = (addr: string): Promise<{ code: number; stdout: string }> =>
      s.exec('laptop', ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/22 && head -c 7 <&3`], { user: true });
    assert.equal((await probe(s.addr.landerOuter)).stdout, 'SSH-2.0');
    assert.notEqual((await probe(s.addr.login)).code, 0);
  });

  test('lander asks for a password, then a TOTP, and lets the user in', async () => {
    const s = need();
    const before = s.authCounts('lander');
    const p = s.pty('laptop', ['ssh', 'lander', 'hostname']);
    await p.answer('Password: ', s.password);
    await p.answer('Second Factor: ', await s.totp());
    const exit = await p.wait();
    assert.equal(exit.code, 0, p.transcript);
    assert.match(p.transcript, /\(burrowtest@10\.201\.1\.1\) Password: /);
    assert.match(p.transcript, /^lander$/m);
    assert.equal(s.authCounts('lander').accepted, before.accepted + 1);
  });

  test('`ssh mahuika hostname` goes through the ProxyCommand with one 2FA', async () => {
    const s = need();
    const p = s.pty('laptop', ['ssh', 'mahuika', 'hostname']);
    await p.answer('Password: ', s.password);
    await p.answer('Second Factor: ', await s.totp());
    const exit = await p.wait();
    assert.equal(exit.code, 0, p.transcript);
    assert.match(p.transcript, /^mahuika$/m);
    assert.equal(count(p.transcript, 'Password: '), 1, p.transcript);
    assert.equal(count(p.transcript, 'Second Factor: '), 1, p.transcript);
  });

  test('`ssh mahuika-pj` (ProxyJump) works too', async () => {
    const s = need();
    const p = s.pty('laptop', ['ssh', 'mahuika-pj', 'hostname']);
    await p.answer('Password: ', s.password);
    await p.answer('Second Factor: ', await s.totp());
    const exit = await p.wait();
    assert.equal(exit.code, 0, p.transcript);
    assert.match(p.transcript, /^mahuika$/m);
  });

  test('a wrong TOTP is refused and counted once in lander\'s auth log', async () => {
    const s = need();
    const before = s.authCounts('lander');
    const p = s.pty('laptop', ['ssh', '-o', 'NumberOfPasswordPrompts=1', 'lander', 'true']);
    await p.answer('Password: ', s.password);
    await p.answer('Second Factor: ', await s.wrongTotp());
    const exit = await p.wait();
    assert.equal(exit.code, 255, p.transcript);
    assert.match(p.transcript, /Permission denied/);
    // sshd logs "Failed keyboard-interactive/pam for ..." when PAM says no.
    const deadline = Date.now() + 2000;
    while (s.authCounts('lander').failed === before.failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.authCounts('lander').failed, before.failed + 1, s.authLog('lander'));
    assert.equal(s.authCounts('lander').accepted, before.accepted);
  });

  test('the login node reaches the compute nodes with the cluster key', async () => {
    const s = need();
    for (const n of ['c1', 'c2']) {
      const r = await s.exec('login', ['ssh', n, 'hostname'], { user: true });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), n);
    }
  });

  test('a Slurm job submitted on login runs on c1/c2 and its output appears', async () => {
    const s = need();
    const out = '/home/burrowtest/jobs/selftest.out';
    const sub = await s.exec('login', ['sbatch', '--parsable', '--output', out, '--wrap', 'echo "node=$(hostname) submit=$SLURM_SUBMIT_HOST"'], { user: true });
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim().split(';')[0] ?? '';
    assert.match(id, /^\d+$/);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const q = await s.exec('login', ['squeue', '-h', '-j', id, '-o', '%T']);
      if (q.stdout.trim() === '' || /COMPLETED|FAILED|CANCELLED/.test(q.stdout)) break;
      assert.ok(Date.now() < deadline, `job ${id} still ${q.stdout.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cat = await s.exec('c1', ['cat', out], { user: true });
    assert.match(cat.stdout, /^node=c[12] submit=mahuika$/m, cat.stdout + cat.stderr);
  });

  test('linkDown/linkUp cut (loudly or silently) and restore the laptop', async () => {
    const s = need();
    const probe = (): Promise<{ code: number; stdout: string }> =>
      s.exec('laptop', ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${s.addr.landerOuter}/22 && head -c 7 <&3`], { user: true });
    await s.linkDown('laptop');
    let t0 = Date.now();
    assert.notEqual((await probe()).code, 0);
    assert.ok(Date.now() - t0 < 1500, 'own link down: an immediate local error');
    await s.linkUp('laptop');
    assert.equal((await probe()).stdout, 'SSH-2.0');
    await s.linkDown('laptop', { silent: true });
    t0 = Date.now();
    assert.notEqual((await probe()).code, 0);
    assert.ok(Date.now() - t0 >= 1500, 'silent: packets vanish, the connect times out');
    await s.linkUp('laptop');
    assert.equal((await probe()).stdout, 'SSH-2.0');
  });

  test('restartSshd brings lander\'s sshd back', async () => {
    const s = need();
    await s.restartSshd('lander');
    assert.ok(s.listening('lander').has(22));
  });

  test('stop() leaves no namespace, process, mount, link or file behind', async () => {
    const s = need();
    const snap = s.snapshot();
    const t0 = Date.now();
    await s.stop();
    site = undefined;
    console.log(`# site down in ${Date.now() - t0} ms`);
    assert.deepEqual(residue(snap), []);
    const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => SITE_NETNS.includes(n)) : [];
    assert.deepEqual(netns, []);
    // (whether the lock is free is not checked: another test file may take it at once)
  });
});
