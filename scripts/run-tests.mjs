#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [--unit] [path-filter...]
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const dirs = unitOnly ? ['src'] : ['src', 'test'];
let files = dirs.flatMap((d) => walk(join(root, d), [])).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Files run two at a time (2-core machines). Tests that share one network-namespace site
// serialise themselves through the site helper's lock, not through the runner.
// --test-force-exit: a file whose test failed before closing a server or socket would
// otherwise never exit (its `after` hooks still run first, so sshd and temp dirs go).
//
// blocking-stdout.mjs: a file's report is written out before --test-force-exit ends it
// (see there). A watchdog bounds the whole run all the same: a stuck runner or test
// must fail the run, not hang CI for its 90 minutes.
const limit = Number(process.env.BURROW_TEST_LIMIT_MIN);
const limitMin = limit > 0 ? limit : 25;
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--import', join(root, 'scripts/blocking-stdout.mjs'), '--test', '--test-concurrency=2', '--test-timeout=600000', '--test-force-exit', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);

/** A process and every process under it, from `ps` (pid and parent of each). */
function tree(root) {
  const kids = new Map();
  for (const line of execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    kids.set(ppid, [...(kids.get(ppid) ?? []), pid]);
  }
  const all = [root];
  for (let i = 0; i < all.length; i++) all.push(...(kids.get(all[i]) ?? []));
  return all;
}

const watchdog = setTimeout(() => {
  console.error(`\nrun-tests: the run was still going after ${limitMin} min: killed (a stuck test runner, or a test that hangs)`);
  // The runner first (the list starts there), so that it starts no more files.
  for (const pid of tree(child.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}, limitMin * 60_000);
child.on('exit', (code) => {
  clearTimeout(watchdog);
  process.exit(code ?? 1);
});
