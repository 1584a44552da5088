import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { BIN } from '../../test/helpers/cli.js';

test('--help to a full disk: a one-line error and exit 255, no stack trace', () => {
  const full = openSync('/dev/full', 'w');
  try {
    const r = spawnSync(BIN, ['--help'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
    assert.equal(r.status, 255);
    assert.equal(r.stderr, 'burrow: cannot write to standard output: ENOSPC: no space left on device, write\n');
  } finally {
    closeSync(full);
  }
});

test('--help to a reader that has gone away (EPIPE) ends quietly with 0', async () => {
  const child = spawn(BIN, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Like `burrow --help | true`: the pipe's reading end is closed before burrow writes.
  child.stdout.destroy();
  const code = await new Promise((resolve) => child.once('close', resolve));
  assert.equal(code, 0);
  assert.equal(stderr, '');
});

test('--help prints the whole text through a pipe', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^burrow — SSH port forwarding/);
  assert.match(r.stdout, /exit status: 0 ok, 2 usage error, 255 connection\/auth\/forward failure, else the remote command's\.\n$/);
});
