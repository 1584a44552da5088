#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [--unit] [path-filter...]
import { spawn } from 'node:child_process';
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
const limitMin = Number(process.env.BURROW_TEST_LIMIT_MIN ?? 25);
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--import', join(root, 'scripts/blocking-stdout.mjs'), '--test', '--test-concurrency=2', '--test-timeout=600000', '--test-force-exit', '--test-reporter=spec', ...files],
  // Its own process group, so the watchdog can stop every file it runs.
  { cwd: root, stdio: 'inherit', detached: true },
);
const killGroup = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
const watchdog = setTimeout(() => {
  console.error(`\nrun-tests: the run was still going after ${limitMin} min: killed (a stuck test runner, or a test that hangs)`);
  killGroup('SIGKILL');
}, limitMin * 60_000);
// Ctrl-C reaches this process's group, not the runner's: pass it on.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(code ?? (signal ? 1 : 0));
});
