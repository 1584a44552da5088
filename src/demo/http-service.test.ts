import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GREETING, startDemoHttpService } from './http-service.js';

describe('demo web page', () => {
  it('answers / with the greeting and a counter, 404 elsewhere, and frees its port on close', async () => {
    const web = await startDemoHttpService();
    const base = `http://127.0.0.1:${web.port}`;
    const first = await fetch(`${base}/`);
    assert.equal(first.status, 200);
    const body = await first.text();
    assert.match(body, new RegExp(GREETING));
    assert.match(body, /Requests served: 1/);
    assert.match(await (await fetch(`${base}/`)).text(), /Requests served: 2/);
    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    await missing.text();
    assert.equal(web.requests, 2);
    await web.close();
    await assert.rejects(fetch(`${base}/`));
  });
});
