import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshArgs } from './ssh-args.js';
import { isBurrowError } from '../errors.js';

test('parses ssh-style flags, the destination and the command', () => {
  const a = parseSshArgs(['-NL', '5555:localhost:6666', '-L5556:x:1', '-D', '1080', '-vvv', '-p', '2222', 'mahuika', '-R', '0:localhost:22', 'ls', '-la']);
  assert.deepEqual(a.local, ['5555:localhost:6666', '5556:x:1']);
  assert.deepEqual(a.dynamic, ['1080']);
  assert.deepEqual(a.remote, ['0:localhost:22']);
  assert.equal(a.noCommand, true);
  assert.equal(a.verbose, 3);
  assert.equal(a.destination, 'mahuika');
  assert.deepEqual(a.command, ['ls', '-la']);
  assert.deepEqual(a.options, ['Port=2222']);
});

test('maps -J -l -4 -o to config options in order', () => {
  const a = parseSshArgs(['-J', 'lander', '-l', 'me', '-4', '-o', 'ServerAliveInterval=5', 'host']);
  assert.deepEqual(a.options, ['ProxyJump=lander', 'User=me', 'AddressFamily=inet', 'ServerAliveInterval=5']);
});

test('usage errors are USAGE BurrowErrors', () => {
  for (const argv of [['-L'], ['-Z', 'host'], ['-p', 'abc', 'host'], ['-f', 'host'], ['--nope'], ['-J', '', 'host']]) {
    assert.throws(() => parseSshArgs(argv), (e: unknown) => isBurrowError(e, 'USAGE'), argv.join(' '));
  }
  // An empty jump host is named as the -J it came from (not as the -o it becomes).
  assert.throws(() => parseSshArgs(['-J', ' ', 'host']), /invalid -J argument/);
});

test('-c becomes the first Ciphers option (ssh sets it before -o and the files); the last -c wins', () => {
  const a = parseSshArgs(['-o', 'Ciphers=aes128-ctr', '-c', 'aes256-ctr', '-p', '2', '-c', '^chacha20-poly1305@openssh.com', 'host']);
  assert.deepEqual(a.options, ['Ciphers=^chacha20-poly1305@openssh.com', 'Ciphers=aes128-ctr', 'Port=2']);
});

test('a bad -c or an empty -l is named as the flag it came from', () => {
  assert.throws(() => parseSshArgs(['-c', 'nope', 'host']), (e: unknown) => isBurrowError(e, 'USAGE') && /^-c 'nope' has an unknown cipher 'nope'/.test(e.message));
  assert.throws(() => parseSshArgs(['-c', '-*', 'host']), /-c '-\*' leaves no cipher burrow supports/);
  assert.throws(() => parseSshArgs(['-l', '', 'host']), (e: unknown) => isBurrowError(e, 'USAGE') && /^-l needs a user name/.test(e.message));
});
