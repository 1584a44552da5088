import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The files `npm pack` would put in the package (paths from the package's root). */
function packed(): Set<string> {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const [info] = JSON.parse(out) as [{ files: { path: string }[] }];
  return new Set(info.files.map((f) => f.path));
}

/** binding.gyp's sources and, transitively, the local headers they include. */
function nativeSources(): string[] {
  const gyp = JSON.parse(readFileSync(`${root}native/binding.gyp`, 'utf8')) as { targets: { sources: string[] }[] };
  const todo = gyp.targets.flatMap((t) => t.sources.map((s) => posix.join('native', s)));
  const seen = new Set<string>();
  while (todo.length) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(`${root}${file}`, 'utf8').matchAll(/^#include "([^"]+)"/gm)) todo.push(posix.join(posix.dirname(file), m[1] as string));
  }
  return [...seen].sort();
}

test('the package holds every file its install builds the native addons from, and the CLI', () => {
  const files = packed();
  const sources = nativeSources();
  assert.ok(sources.includes('native/tx-pump.c') && sources.includes('native/tx-pump-api.h'), `sources found: ${sources.join(' ')}`);
  const missing = ['native/binding.gyp', 'bin/burrow.js', 'bin/package.json', 'dist/cli/main.js', ...sources].filter((f) => !files.has(f));
  assert.deepEqual(missing, [], 'files the installed package needs but `npm pack` leaves out');
});
