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

test('burrow started by its #! line runs V8 without helper threads; node bin/burrow.js with them', () => {
  const direct = execFileSync(bin, ['--version', '-v'], { encoding: 'utf8' });
  assert.match(direct, /^V8 helper threads: off \(--single-threaded, from the #! line of bin\/burrow\.js\)$/m);
  const viaNode = execFileSync(process.execPath, [bin, '--version', '-v'], { encoding: 'utf8' });
  assert.match(viaNode, /^V8 helper threads: on \(node started without --single-threaded/m);
});
