import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startForward } from '../../src/forward/index.js';
import { MiB, connect, receive, startEnv, type Env } from './util.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

const TOTAL = 256 * MiB;
const block = randomBytes(MiB);

/** Sends `block` TOTAL/MiB times, honouring backpressure, and counts what it got rid of. */
function startFirehose(): Promise<{ port: number; written: () => number; close: () => void }> {
  let written = 0;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let left = TOTAL / MiB;
    const pump = (): void => {
      while (left > 0) {
        left--;
        const ok = s.write(block, () => (written += MiB));
        if (!ok) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as net.AddressInfo).port, written: () => written, close: () => server.close() }),
    ),
  );
}

test('a stalled local reader holds the sender back instead of buffering 256 MiB', async (t) => {
  const hose = await startFirehose();
  const fwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${hose.port}` }, env.opener);
  const addr = fwd.address();
  assert.ok(addr?.type === 'tcp');
  const rssBefore = process.memoryUsage().rss;

  const s = await connect({ host: '127.0.0.1', port: addr.port });
  const hash = createHash('sha256');
  let got = 0;
  // Read the first MiB, then stop reading altogether.
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer): void => {
      hash.update(c);
      got += c.length;
      if (got >= MiB) {
        s.off('data', onData);
        s.pause();
        resolve();
      }
    };
    s.on('data', onData);
  });

  // Wait until the sender is stuck: nothing more leaves it for a while.
  let last = -1;
  let still = 0;
  while (still < 10 && hose.written() < TOTAL) {
    await new Promise((r) => setTimeout(r, 100));
    if (hose.written() === last) still++;
    else still = 0;
    last = hose.written();
  }
  const growth = process.memoryUsage().rss - rssBefore;
  t.diagnostic(`stalled after ${hose.written() / MiB} MiB sent; RSS growth ${(growth / MiB).toFixed(1)} MiB`);
  assert.ok(hose.written() < TOTAL / 2, `sender got rid of ${hose.written() / MiB} MiB while nobody read`);
  assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB with a stalled reader`);

  // Reading again gets every byte, intact.
  const rest = receive(s);
  s.on('data', (c: Buffer) => hash.update(c));
  s.resume();
  const r = await rest;
  assert.equal(got + r.length, TOTAL);
  const expected = createHash('sha256');
  for (let i = 0; i < TOTAL / MiB; i++) expected.update(block);
  assert.equal(hash.digest('hex'), expected.digest('hex'));
  s.destroy();
  await fwd.close();
  hose.close();
});
