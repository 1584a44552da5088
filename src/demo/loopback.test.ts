import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost, loopbackOnlyLookup } from './loopback.js';

describe('isLoopbackHost', () => {
  it('accepts 127.0.0.0/8, ::1 in its spellings, and localhost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', 'localhost.']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
  });
  it('refuses everything else without resolving names', () => {
    for (const h of ['0.0.0.0', '10.0.0.1', '128.0.0.1', '192.0.2.1', '::', '::2', 'fe80::1', '::ffff:10.0.0.1', 'localhost.example.com', 'example.com', '127.0.0.1.nip.io', '']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });
});

describe('loopbackOnlyLookup', () => {
  it('resolves localhost to loopback addresses only', async () => {
    const addr = await new Promise<string>((resolve, reject) =>
      loopbackOnlyLookup('localhost', {}, (err, a) => (err ? reject(err) : resolve(String(a)))),
    );
    assert.equal(isLoopbackHost(addr), true);
  });
});
