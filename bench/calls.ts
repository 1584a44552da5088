/**
 * JavaScript functions a forwarder calls per new connection, counted by V8 (precise
 * coverage, `NODE_V8_COVERAGE`), Node's own modules included. Counts, not time: two runs
 * of one build agree within 1 % whatever else the machine is doing (session 44: 423.3 and
 * 423.7 at N = 500). Compare builds at the same N: timer-driven work (the keepalive, the
 * status line) is spread over the N connections (439.6 at N = 300).
 *
 *   node --import tsx bench/calls.ts [--rr N] [--top K] [peer]
 *
 * Runs `ab.ts --rr N` twice with a fresh forwarder (`peer`, default `cli`): one block of N
 * request/reply connections, then two. What the second run called more, divided by N, is
 * what one connection costs; start-up, the handshake and exit cancel out. Prints the
 * calls per connection by file, then the K commonest functions. Not part of `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeOption } from './lib/args.js';

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { startOffset: number; count: number }[] }[] }[];
}

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => takeOption(args, name, dflt);
const rr = Number(opt('--rr', '500'));
const top = Number(opt('--top', '60'));
const peer = args[0] ?? 'cli';

/** Calls of each function in the forwarder's coverage file: the one whose `conn.js` ran most. */
function counts(dir: string): Map<string, number> {
  let best: Coverage | undefined;
  let most = -1;
  for (const f of readdirSync(dir)) {
    const cov = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Coverage;
    for (const s of cov.result) {
      if (!s.url.endsWith('dist/forward/conn.js')) continue;
      const n = Math.max(0, ...s.functions.map((fn) => fn.ranges[0]?.count ?? 0));
      if (n > most) [most, best] = [n, cov];
    }
  }
  if (!best) throw new Error(`no coverage of dist/forward/conn.js in ${dir}: is dist/ built, and did the forwarder exit cleanly?`);
  const m = new Map<string, number>();
  for (const s of best.result) {
    const url = s.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
    for (const fn of s.functions) {
      const r = fn.ranges[0];
      if (r) m.set(`${url} ${fn.functionName || '(anonymous)'} @${r.startOffset}`, r.count);
    }
  }
  return m;
}

function run(cases: string): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'burrow-calls-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/ab.ts', '--reps', '1', '--rr', String(rr), '--cases', cases, peer], {
      env: { ...process.env, NODE_V8_COVERAGE: dir },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`ab.ts --cases ${cases} failed (${r.status ?? r.signal})`);
    return counts(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const one = run('rr');
const two = run('rr,rr');
const rows: [number, string][] = [];
for (const [k, v] of two) {
  const d = (v - (one.get(k) ?? 0)) / rr;
  if (d > 0.005) rows.push([d, k]);
}
rows.sort((a, b) => b[0] - a[0]);
const byFile = new Map<string, number>();
for (const [d, k] of rows) {
  const file = k.split(' ')[0] as string;
  byFile.set(file, (byFile.get(file) ?? 0) + d);
}
console.log(`${peer}: ${rows.reduce((s, r) => s + r[0], 0).toFixed(1)} JavaScript calls per connection (${rows.length} functions)`);
for (const [f, d] of [...byFile].sort((a, b) => b[1] - a[1])) if (d >= 0.5) console.log(`${d.toFixed(1).padStart(7)}  ${f}`);
console.log('');
for (const [d, k] of rows.slice(0, top)) console.log(`${d.toFixed(2).padStart(7)}  ${k}`);
