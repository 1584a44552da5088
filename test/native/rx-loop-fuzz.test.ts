/**
 * The fuzz harness of the native receive loop (native/fuzz/rx-loop-fuzz.c), as a
 * regression test: `native/fuzz/run.sh check` builds it with gcc (ASan, UBSan) and runs
 * its fixed cases and a fixed-seed series of inputs; any broken invariant aborts it.
 * It needs gcc and OpenSSL's headers (libssl-dev): without them the test fails.
 * Run alone: node scripts/run-tests.mjs test/native/rx-loop-fuzz
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../native/fuzz/run.sh', import.meta.url));

test('rx-loop.c under its fuzz harness: fixed cases and 6000 seeded inputs, no broken invariant', (t) => {
  const r = spawnSync('bash', [script, 'check'], { encoding: 'utf8', timeout: 300_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, `run.sh check failed (status ${r.status}, signal ${r.signal}):\n${out.slice(-4000)}`);
  const m = /rx-loop-fuzz: (\d+) inputs, (\d+) packets, (\d+) sink bytes, (\d+) evictions, (\d+) js payloads, (\d+) holds, (\d+) restarts, (\d+) bad packets, .*, (\d+) naps/.exec(r.stdout);
  assert.ok(m, `no summary line:\n${out.slice(-4000)}`);
  t.diagnostic(m[0]);
  const [inputs, packets, sinkBytes, evictions, js, holds, restarts, bad, naps] = m.slice(1).map(Number);
  assert.ok(inputs! > 6000, `${inputs} inputs`); // the fixed cases and 6000 seeded inputs
  // each path was taken (the run did not pass for want of getting anywhere)
  for (const [name, n] of Object.entries({ packets, sinkBytes, evictions, js, holds, restarts, bad, naps })) {
    assert.ok(n! > 0, `${name}: ${n}`);
  }
});
