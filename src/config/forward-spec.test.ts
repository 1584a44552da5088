import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseForwardSpec, formatEndpoint } from './forward-spec.js';
import { isBurrowError } from '../errors.js';

test('local tcp forms', () => {
  assert.deepEqual(parseForwardSpec('local', '5555:localhost:6666'), {
    kind: 'local',
    listen: { type: 'tcp', port: 5555 },
    target: { type: 'tcp', host: 'localhost', port: 6666 },
    text: '5555:localhost:6666',
  });
  assert.deepEqual(parseForwardSpec('local', '0.0.0.0:5555:node1:22').listen, { type: 'tcp', bind: '0.0.0.0', port: 5555 });
  assert.deepEqual(parseForwardSpec('local', '*:5555:node1:22').listen, { type: 'tcp', bind: '*', port: 5555 });
  assert.deepEqual(parseForwardSpec('local', ':5555:node1:22').listen, { type: 'tcp', bind: '*', port: 5555 });
  assert.deepEqual(parseForwardSpec('local', 'auto:node1:22').listen, { type: 'tcp', port: 0 });
  assert.deepEqual(parseForwardSpec('local', 'AUTO:node1:22').listen, { type: 'tcp', port: 0 });
});

test('IPv6 brackets anywhere', () => {
  const s = parseForwardSpec('local', '[::1]:5555:[fe80::1%eth0]:6666');
  assert.deepEqual(s.listen, { type: 'tcp', bind: '::1', port: 5555 });
  assert.deepEqual(s.target, { type: 'tcp', host: 'fe80::1%eth0', port: 6666 });
  assert.deepEqual(parseForwardSpec('local', '5555:[::1]:22').target, { type: 'tcp', host: '::1', port: 22 });
  assert.deepEqual(parseForwardSpec('dynamic', '[::1]:1080').listen, { type: 'tcp', bind: '::1', port: 1080 });
});

test('unix socket forms', () => {
  assert.deepEqual(parseForwardSpec('local', '8888:/run/app.sock').target, { type: 'unix', path: '/run/app.sock' });
  assert.deepEqual(parseForwardSpec('local', '127.0.0.1:8888:/run/app.sock').listen, { type: 'tcp', bind: '127.0.0.1', port: 8888 });
  const l = parseForwardSpec('local', '/tmp/l.sock:host:80');
  assert.deepEqual(l.listen, { type: 'unix', path: '/tmp/l.sock' });
  assert.deepEqual(l.target, { type: 'tcp', host: 'host', port: 80 });
  const u = parseForwardSpec('local', '/tmp/l.sock:/run/r.sock');
  assert.deepEqual([u.listen, u.target], [{ type: 'unix', path: '/tmp/l.sock' }, { type: 'unix', path: '/run/r.sock' }]);
  assert.deepEqual(parseForwardSpec('remote', '6676:/tmp/l.sock').target, { type: 'unix', path: '/tmp/l.sock' });
  assert.deepEqual(parseForwardSpec('remote', '/home/u/r.sock:localhost:6676').listen, { type: 'unix', path: '/home/u/r.sock' });
});

test('remote forms, 0 = server allocates', () => {
  const r = parseForwardSpec('remote', '0:localhost:22');
  assert.equal(r.kind, 'remote');
  assert.deepEqual(r.listen, { type: 'tcp', port: 0 });
  assert.deepEqual(parseForwardSpec('remote', '*:6676:localhost:6676').listen, { type: 'tcp', bind: '*', port: 6676 });
});

test('dynamic forms', () => {
  assert.deepEqual(parseForwardSpec('dynamic', '1080'), { kind: 'dynamic', listen: { type: 'tcp', port: 1080 }, text: '1080' });
  assert.deepEqual(parseForwardSpec('dynamic', 'localhost:1080').listen, { type: 'tcp', bind: 'localhost', port: 1080 });
});

test('config form: first whitespace separates listen from target', () => {
  const s = parseForwardSpec('local', '6676 mahuika:6676', { fromConfig: true });
  assert.deepEqual(s.listen, { type: 'tcp', port: 6676 });
  assert.deepEqual(s.target, { type: 'tcp', host: 'mahuika', port: 6676 });
  assert.equal(s.text, '6676 mahuika:6676');
  assert.deepEqual(parseForwardSpec('local', '[::1]:8888   /run/app.sock', { fromConfig: true }).target, { type: 'unix', path: '/run/app.sock' });
  assert.deepEqual(parseForwardSpec('dynamic', '1080', { fromConfig: true }).listen, { type: 'tcp', port: 1080 });
});

test('malformed specs are BAD_FORWARD_SPEC and show the expected form', () => {
  const cases: [Parameters<typeof parseForwardSpec>[0], string][] = [
    ['local', '5555'],
    ['local', 'a:b:c:d:e'],
    ['local', '70000:x:1'],
    ['local', 'x:1:2'],
    ['local', '5555::80'],
    ['local', '5555:host:0'],
    ['local', '5555:host:http'],
    ['local', ''],
    ['local', '[::1:5555:h:1'],
    ['local', '6676 mahuika:6676'],
    ['remote', '6676'],
    ['dynamic', 'a:b:c'],
    ['dynamic', '99999'],
  ];
  for (const [kind, text] of cases) {
    assert.throws(
      () => parseForwardSpec(kind, text),
      (e: unknown) => isBurrowError(e, 'BAD_FORWARD_SPEC') && /expected .*port/.test(e.message) && e.phase === 'config',
      `${kind} ${text}`,
    );
  }
});

test('formatEndpoint brackets IPv6', () => {
  assert.equal(formatEndpoint({ type: 'tcp', host: '::1', port: 22 }), '[::1]:22');
  assert.equal(formatEndpoint({ type: 'tcp', port: 22 }, '127.0.0.1'), '127.0.0.1:22');
  assert.equal(formatEndpoint({ type: 'unix', path: '/a.sock' }), '/a.sock');
});
