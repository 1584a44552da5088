import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocksHandshake, Socks5Reply, replyCodeFor, connectReply, type SocksStep } from './socks.js';

/** Feeds `bytes` one at a time, collecting replies, until a final step. */
function feedSplit(bytes: Buffer): { replies: Buffer[]; last: SocksStep } {
  const h = new SocksHandshake();
  const replies: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const step = h.push(bytes.subarray(i, i + 1));
    if (step.reply) replies.push(step.reply);
    if (step.type !== 'more') return { replies, last: step };
  }
  throw new Error('handshake incomplete');
}

const greet = Buffer.from([0x05, 0x02, 0x02, 0x00]);
const req5 = (atyp: number, addr: number[], port: number, cmd = 1) =>
  Buffer.from([0x05, cmd, 0x00, atyp, ...addr, port >> 8, port & 0xff]);

test('SOCKS5 domain CONNECT, byte by byte, with trailing data', () => {
  const name = Buffer.from('example.org');
  const { replies, last } = feedSplit(Buffer.concat([greet, req5(0x03, [name.length, ...name], 443), Buffer.from('GET')]));
  assert.deepEqual(replies, [Buffer.from([0x05, 0x00])]);
  assert.equal(last.type, 'request');
  if (last.type !== 'request') return;
  assert.deepEqual(last.request, { version: 5, host: 'example.org', port: 443 });
  // Byte-by-byte: trailing data arrives in later pushes, so rest is empty here.
  assert.equal(last.rest.length, 0);
});

test('SOCKS5 greeting and request in one read: method reply comes first, rest kept', () => {
  const h = new SocksHandshake();
  const step = h.push(Buffer.concat([greet, req5(0x01, [10, 0, 0, 7], 22), Buffer.from('SSH-2.0')]));
  assert.equal(step.type, 'request');
  if (step.type !== 'request') return;
  assert.deepEqual(step.reply, Buffer.from([0x05, 0x00]));
  assert.deepEqual(step.request, { version: 5, host: '10.0.0.7', port: 22 });
  assert.equal(step.rest.toString(), 'SSH-2.0');
});

test('SOCKS5 IPv6 address is canonical', () => {
  const v6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const { last } = feedSplit(Buffer.concat([greet, req5(0x04, v6, 8080)]));
  assert.equal(last.type === 'request' && last.request.host, '::1');
  const v6b = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a];
  const { last: l2 } = feedSplit(Buffer.concat([greet, req5(0x04, v6b, 80)]));
  assert.equal(l2.type === 'request' && l2.request.host, '2001:db8::2a');
});

test('SOCKS5 refusals carry the right reply code', () => {
  const noAuth = new SocksHandshake().push(Buffer.from([0x05, 0x01, 0x02]));
  assert.equal(noAuth.type, 'fail');
  assert.deepEqual(noAuth.reply, Buffer.from([0x05, 0xff]));

  const bind = feedSplit(Buffer.concat([greet, req5(0x01, [1, 2, 3, 4], 80, 0x02)]));
  assert.equal(bind.last.type, 'fail');
  assert.equal(bind.last.reply?.[1], Socks5Reply.COMMAND_NOT_SUPPORTED);

  const atyp = new SocksHandshake();
  atyp.push(greet);
  const bad = atyp.push(Buffer.from([0x05, 0x01, 0x00, 0x09, 0, 0]));
  assert.equal(bad.type, 'fail');
  assert.equal(bad.reply?.[1], Socks5Reply.ADDRESS_NOT_SUPPORTED);

  assert.equal(new SocksHandshake().push(Buffer.from('GET / HTTP/1.1\r\n')).type, 'fail');
});

test('SOCKS4 and SOCKS4a CONNECT, byte by byte', () => {
  const s4 = Buffer.from([0x04, 0x01, 0x1f, 0x90, 127, 0, 0, 1, ...Buffer.from('me'), 0]);
  const a = feedSplit(s4);
  assert.equal(a.last.type === 'request' && JSON.stringify(a.last.request), JSON.stringify({ version: 4, host: '127.0.0.1', port: 8080 }));
  const s4a = Buffer.from([0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 0, ...Buffer.from('node7.cluster'), 0]);
  const b = feedSplit(s4a);
  assert.equal(b.last.type === 'request' && JSON.stringify(b.last.request), JSON.stringify({ version: 4, host: 'node7.cluster', port: 80 }));
  const bindReq = feedSplit(Buffer.from([0x04, 0x02, 0x00, 0x50, 1, 2, 3, 4, 0]));
  assert.equal(bindReq.last.type, 'fail');
  assert.deepEqual(bindReq.last.reply, Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
});

test('SOCKS4 user id cannot grow the buffer without bound', () => {
  const h = new SocksHandshake();
  h.push(Buffer.from([0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4]));
  const step = h.push(Buffer.alloc(4096, 0x41));
  assert.equal(step.type, 'fail');
});

test('channel open failures map to SOCKS5 reply codes', () => {
  assert.equal(replyCodeFor(new Error('(SSH) Channel open failure: Connection refused')), Socks5Reply.CONNECTION_REFUSED);
  assert.equal(replyCodeFor(new Error('(SSH) Channel open failure: Name or service not known')), Socks5Reply.HOST_UNREACHABLE);
  assert.equal(replyCodeFor(new Error('(SSH) Channel open failure: No route to host')), Socks5Reply.HOST_UNREACHABLE);
  assert.equal(replyCodeFor(Object.assign(new Error('open failed'), { reason: 1 })), Socks5Reply.NOT_ALLOWED);
  assert.equal(replyCodeFor(new Error('session closed')), Socks5Reply.GENERAL_FAILURE);
  // A Session's wrapped error: the server's words are in the cause.
  const wrapped = (desc: string) =>
    Object.assign(new Error('mahuika could not open x:1: connection refused or unreachable from there', { cause: new Error(`(SSH) Channel open failure: ${desc}`) }), {
      details: { reason: 2 },
    });
  assert.equal(replyCodeFor(wrapped('Connection refused')), Socks5Reply.CONNECTION_REFUSED);
  assert.equal(replyCodeFor(wrapped('Name or service not known')), Socks5Reply.HOST_UNREACHABLE);
  assert.equal(replyCodeFor(wrapped('Network is unreachable')), Socks5Reply.NETWORK_UNREACHABLE);
  assert.deepEqual(connectReply(4, Socks5Reply.SUCCEEDED), Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
  assert.equal(connectReply(5, Socks5Reply.CONNECTION_REFUSED)[1], 0x05);
});
