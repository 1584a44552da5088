import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preferHostKeyAlgorithms } from './algorithms.js';
import type { ServerHostKeyAlgorithm } from 'ssh2';

test('known key types move to the front, in their order; nothing unsupported is added', () => {
  const defaults: ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  assert.deepEqual(preferHostKeyAlgorithms(['ssh-rsa'], defaults), [
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
  ]);
  assert.deepEqual(preferHostKeyAlgorithms(['ecdsa-sha2-nistp256', 'ssh-dss'], defaults)[0], 'ecdsa-sha2-nistp256');
  assert.ok(!preferHostKeyAlgorithms(['ssh-dss'], defaults).includes('ssh-dss'));
  assert.deepEqual(preferHostKeyAlgorithms([], defaults), defaults);
});

test("the default list is ssh2's own", () => {
  const list = preferHostKeyAlgorithms([]);
  assert.ok(list.includes('rsa-sha2-256') && list.includes('ecdsa-sha2-nistp256'));
});
