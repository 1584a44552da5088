import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { checkLocalPort, describePortHolder, listeningInodes, portInUseError } from './ports.js';
import { isBurrowError } from '../errors.js';

test('ports 1024-49151 and 0 pass without warning', () => {
  assert.deepEqual(checkLocalPort(0), {});
  assert.deepEqual(checkLocalPort(1024, { mayBindPrivileged: false }), {});
  assert.deepEqual(checkLocalPort(49151), {});
});

test('below 1024 without root is PORT_PRIVILEGED and says why', () => {
  assert.throws(
    () => checkLocalPort(80, { mayBindPrivileged: false }),
    (e: unknown) => isBurrowError(e, 'PORT_PRIVILEGED') && /root/.test(e.message) && /1024-49151/.test(e.message),
  );
  assert.deepEqual(checkLocalPort(80, { mayBindPrivileged: true }), {});
});

test('ephemeral range warns, beyond 65535 is PORT_OUT_OF_RANGE', () => {
  assert.match(checkLocalPort(50000).warning ?? '', /ephemeral/);
  assert.throws(() => checkLocalPort(70000), (e: unknown) => isBurrowError(e, 'PORT_OUT_OF_RANGE'));
  assert.throws(() => checkLocalPort(-1), (e: unknown) => isBurrowError(e, 'PORT_OUT_OF_RANGE'));
});

test('listeningInodes reads LISTEN rows of /proc/net/tcp', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000 100 0 0 10 0',
    '   1: 0100007F:15B3 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000 100 0 0 10 0',
    '   2: 0100007F:15B4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual(listeningInodes(table, 5555), ['4242']);
});

test('describePortHolder names this process for a port it listens on', { skip: process.platform !== 'linux' }, async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  try {
    const h = await describePortHolder(port);
    assert.equal(h?.pid, process.pid);
    assert.ok(h?.command.length);
    const e = await portInUseError(port, undefined);
    assert.equal(e.code, 'PORT_IN_USE');
    assert.match(e.message, new RegExp(`port ${port} is in use by .+ \\(pid ${process.pid}\\); pick another or use 0`));
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(await describePortHolder(port), undefined);
});
