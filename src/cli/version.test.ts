import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { versionText } from './version.js';

const bin = fileURLToPath(new URL('../../bin/burrow.js', import.meta.url));

test('--version -v says the native AES-GCM paths are on where built, and off when turned off', async () => {
  const text = await versionText(1);
  assert.match(text, /receive loop \(native\/rx-loop\) on; send \(native\/tx-seal\) on; upload pump \(native\/tx-pump\) on/);
  const off = execFileSync(process.execPath, [bin, '--version', '-v'], { env: { ...process.env, BURROW_NO_NATIVE_TX: '1' }, encoding: 'utf8' });
  assert.match(off, /receive loop \(native\/rx-loop\) on; send \(native\/tx-seal\) off \(BURROW_NO_NATIVE_TX=1, or not built\); upload pump \(native\/tx-pump\) off \(BURROW_NO_NATIVE_TX=1, or not built\)/);
  const noPump = execFileSync(process.execPath, [bin, '--version', '-v'], { env: { ...process.env, BURROW_NO_PUMP: '1' }, encoding: 'utf8' });
  assert.match(noPump, /send \(native\/tx-seal\) on; upload pump \(native\/tx-pump\) off \(BURROW_NO_PUMP=1, or not built\)/);
});
