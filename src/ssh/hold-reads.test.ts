import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { holdReads } from './hold-reads.js';
import { pauseNow } from '../forward/pipe.js';
import { still, until } from '../../test/helpers/wait.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A client of a local server that sends `data` at once and closes; its bytes are kept. */
async function downloader(t: { after(fn: () => Promise<void>): void }, data: Buffer): Promise<{ client: net.Socket; got: Buffer[] }> {
  const server = net.createServer((s) => s.end(data));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  t.after(async () => {
    client.destroy();
    server.close();
    await once(server, 'close');
  });
  const got: Buffer[] = [];
  client.on('data', (c: Buffer) => got.push(c));
  await once(client, 'connect');
  return { client, got };
}

test('a socket paused while its reads are held reads nothing when they are released, and everything once it flows', async (t) => {
  const data = randomBytes(1024 * 1024);
  const { client, got } = await downloader(t, data);
  // A join waiting for its turn on the transport, the upload pump reading for it.
  pauseNow(client);
  holdReads(client, true);
  holdReads(client, false);
  await still('the paused socket', () => client.bytesRead, 250);
  assert.equal(client.bytesRead, 0, 'read into the paused socket');
  assert.equal(client.readableLength, 0);
  client.resume();
  await once(client, 'end');
  assert.equal(sha(Buffer.concat(got)), sha(data));
});

test('a flowing socket reads nothing while held, and on from where it was once released', async (t) => {
  const data = randomBytes(1024 * 1024);
  const { client, got } = await downloader(t, data);
  holdReads(client, true);
  await still('the held socket', () => client.bytesRead, 250);
  assert.equal(client.bytesRead, 0, 'read while held');
  holdReads(client, false);
  await until('the download', () => client.readableEnded);
  assert.equal(sha(Buffer.concat(got)), sha(data));
});
