// What a job's reverse tunnel does at job end under `proctrack/linuxproc` (test-site.md,
// "What the reverse tunnel does at job end"): the article's `ssh -Nf -R` escapes the job
// and keeps the login node's port; the next job's tunnel on that port fails silently, or
// loudly with ExitOnForwardFailure. burrow's job side (`ssh -N -R` as a child of the job,
// never -f) must end with the job even here. (proctrack/cgroup is covered by workflow 5.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSite, type Site } from './site.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, diag?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await sleep(50);
  }
}

describe('job reverse tunnel under proctrack/linuxproc', { concurrency: false }, () => {
  let site: Site | undefined;
  const need = (): Site => {
    assert.ok(site, 'the site did not come up');
    return site;
  };
  before(async () => {
    site = await startSite({ proctrack: 'linuxproc' });
  });
  after(async () => {
    await site?.stop();
  });

  /** Submits a job on c1 that runs `tunnel` (a shell line), records its exit status, then sleeps. */
  async function submit(name: string, tunnel: string): Promise<{ id: string; out: string }> {
    const s = need();
    const out = `/home/burrowtest/jobs/${name}.out`;
    const script = ['#!/bin/bash', '#SBATCH --nodelist c1', tunnel, 'echo "tunnel-exit=$?"', 'sleep 600', ''].join('\n');
    const file = `/home/burrowtest/jobs/${name}.sh`;
    assert.equal((await s.exec('login', ['tee', file], { user: true, input: script })).code, 0);
    const r = await s.exec('login', ['sbatch', '--parsable', '--output', out, file], { user: true });
    assert.equal(r.code, 0, r.stderr);
    return { id: r.stdout.trim().split(';')[0] ?? '', out };
  }

  async function output(out: string, re: RegExp): Promise<string> {
    const s = need();
    let text = '';
    await waitUntil(`${out} to match ${re}`, async () => {
      text = (await s.exec('login', ['cat', out], { user: true })).stdout;
      return re.test(text);
    }, 20_000, () => text);
    return text;
  }

  test('the article\'s `ssh -Nf -R` outlives the job and keeps the login node\'s port', async () => {
    const s = need();
    const j1 = await submit('lp1', 'ssh -Nf -R 6676:localhost:6676 ${SLURM_SUBMIT_HOST}');
    await output(j1.out, /tunnel-exit=0/);
    await waitUntil('login:6676 bound', () => s.listening('login').has(6676), 10_000);
    assert.equal((await s.exec('login', ['scancel', j1.id], { user: true })).code, 0);
    await waitUntil(`job ${j1.id} gone`, async () => (await s.exec('login', ['squeue', '-h', '-j', j1.id])).stdout.trim() === '', 15_000);
    await sleep(1500);
    const still = s.listening('login').has(6676);
    console.log(`# linuxproc: 1.5 s after scancel login:6676 is ${still ? 'STILL BOUND by the escaped ssh -f' : 'free'}`);
    assert.ok(still, 'under linuxproc the daemonised ssh escapes the job');

    // The next job's tunnel on the same port: silent success without ExitOnForwardFailure…
    const j2 = await submit('lp2', 'ssh -Nf -R 6676:localhost:6676 ${SLURM_SUBMIT_HOST}');
    const o2 = await output(j2.out, /tunnel-exit=\d+/);
    console.log(`# linuxproc: next job's ssh -Nf -R on the taken port: ${o2.trim().replace(/\n/g, ' | ')}`);
    assert.match(o2, /tunnel-exit=0/);
    // …and a clear failure with it.
    const j3 = await submit('lp3', 'ssh -Nf -o ExitOnForwardFailure=yes -R 6676:localhost:6676 ${SLURM_SUBMIT_HOST}');
    const o3 = await output(j3.out, /tunnel-exit=\d+/);
    console.log(`# linuxproc: with ExitOnForwardFailure=yes: ${o3.trim().replace(/\n/g, ' | ')}`);
    assert.match(o3, /remote port forwarding failed for listen port 6676/);
    assert.match(o3, /tunnel-exit=255/);
    await s.exec('login', ['scancel', j2.id, j3.id], { user: true });
  });

  test('`ssh -N -R` kept as a child of the job (no -f) ends with the job and frees the port', async () => {
    const s = need();
    const j = await submit('lp4', 'ssh -N -o ExitOnForwardFailure=yes -R 6677:localhost:6677 ${SLURM_SUBMIT_HOST} &\nsleep 0.5; kill -0 $! ; true');
    await output(j.out, /tunnel-exit=0/);
    await waitUntil('login:6677 bound', () => s.listening('login').has(6677), 10_000);
    const t0 = Date.now();
    assert.equal((await s.exec('login', ['scancel', j.id], { user: true })).code, 0);
    await waitUntil('login:6677 free after scancel', () => !s.listening('login').has(6677), 10_000);
    console.log(`# linuxproc: a non-daemonised ssh -N -R freed login:6677 ${Date.now() - t0} ms after scancel`);
  });
});
