/**
 * Checks the ssh2 window patch end to end: an ssh2 client moves 256 MiB each way
 * through `forwardOut` and a real /usr/sbin/sshd on loopback, sha256 compared at
 * both ends; then a stalled reader must not make the channel buffer more than
 * its window. Run: `node --import tsx bench/verify-window.ts [MiB]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client } from 'ssh2';
import { cleanupAll, installSignalHandlers, sleep } from './lib/proc.js';
import { freePort } from './lib/ports.js';
import { startSshd } from './lib/sshd.js';

const require = createRequire(import.meta.url);
const channelMod = require('ssh2/lib/Channel.js') as { WINDOW_PATCH_VERSION?: number };

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 256) * MiB;
const block = randomBytes(16 * MiB);

interface Tuned {
  _wtune?: { size: number; rtt: number };
}

/** Data server: 'G' = send `total` bytes; 'P' = hash what arrives, answer with the hex digest. */
function dataServer(): Promise<{ port: number; sentHash: Promise<string>[]; close(): void }> {
  const sentHash: Promise<string>[] = [];
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    s.once('data', (first: Buffer) => {
      const cmd = first.subarray(0, 1).toString();
      if (cmd === 'G') {
        sentHash.push(
          new Promise((resolve) => {
            const h = createHash('sha256');
            let left = total;
            const pump = (): void => {
              while (left > 0) {
                const chunk = block.subarray(0, Math.min(left, block.length));
                left -= chunk.length;
                h.update(chunk);
                if (!s.write(chunk)) return void s.once('drain', pump);
              }
              s.end();
              resolve(h.digest('hex'));
            };
            pump();
          }),
        );
      } else {
        const h = createHash('sha256');
        h.update(first.subarray(1));
        s.on('data', (d: Buffer) => h.update(d));
        s.on('end', () => s.end(h.digest('hex')));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address() as net.AddressInfo;
      resolve({ port: a.port, sentHash, close: () => server.close() });
    }),
  );
}

function open(conn: Client, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) =>
    conn.forwardOut('127.0.0.1', 1, '127.0.0.1', port, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
}

async function main(): Promise<void> {
  installSignalHandlers();
  if (channelMod.WINDOW_PATCH_VERSION === undefined) throw new Error('ssh2 window patch is not applied');
  const sshd = await startSshd({ addr: '127.0.0.1', port: await freePort() });
  const data = await dataServer();
  const conn = new Client();
  await new Promise<void>((resolve, reject) =>
    conn
      .once('ready', resolve)
      .once('error', reject)
      .connect({
        host: '127.0.0.1',
        port: sshd.port,
        username: 'root',
        privateKey: readFileSync(sshd.clientKey),
        hostVerifier: () => true,
        algorithms: { cipher: ['aes128-gcm@openssh.com'] },
      }),
  );
  conn.setNoDelay(true);
  let failed = false;

  // Download.
  let t0 = process.hrtime.bigint();
  const down = await open(conn, data.port);
  down.end('G');
  const h = createHash('sha256');
  let got = 0;
  let peakBuffered = 0;
  for await (const chunk of down as AsyncIterable<Buffer>) {
    h.update(chunk);
    got += chunk.length;
    peakBuffered = Math.max(peakBuffered, down.readableLength);
  }
  let secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const want = await data.sentHash[0];
  const okDown = got === total && h.digest('hex') === want;
  failed ||= !okDown;
  const tune = (down as Tuned)._wtune;
  console.log(
    `download ${got / MiB} MiB in ${secs.toFixed(2)} s = ${(got / MiB / secs).toFixed(0)} MiB/s, ` +
      `sha256 ${okDown ? 'intact' : 'MISMATCH'}, window ${(tune?.size ?? 0) / MiB} MiB, ` +
      `peak buffered ${(peakBuffered / MiB).toFixed(2)} MiB`,
  );

  // Upload.
  t0 = process.hrtime.bigint();
  const up = await open(conn, data.port);
  const hu = createHash('sha256');
  const reply = new Promise<string>((resolve) => {
    let s = '';
    up.on('data', (d: Buffer) => (s += d.toString()));
    up.on('end', () => resolve(s));
  });
  up.write('P');
  for (let left = total; left > 0; ) {
    const chunk = block.subarray(0, Math.min(left, block.length));
    left -= chunk.length;
    hu.update(chunk);
    if (!up.write(chunk)) await new Promise((r) => up.once('drain', r));
  }
  up.end();
  const upHash = await reply;
  secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const okUp = upHash === hu.digest('hex');
  failed ||= !okUp;
  console.log(`upload ${total / MiB} MiB in ${secs.toFixed(2)} s = ${(total / MiB / secs).toFixed(0)} MiB/s, sha256 ${okUp ? 'intact' : 'MISMATCH'}`);

  // Stalled reader: nothing reads the channel for 2 s.
  const stalled = await open(conn, data.port);
  stalled.end('G');
  stalled.pause();
  await sleep(2000);
  const held = stalled.readableLength;
  const size = (stalled as Tuned)._wtune?.size ?? 0;
  const okStall = held <= size;
  failed ||= !okStall;
  console.log(`stalled reader holds ${(held / MiB).toFixed(2)} MiB (window ${size / MiB} MiB): ${okStall ? 'bounded' : 'OVER WINDOW'}`);
  stalled.destroy();

  conn.end();
  data.close();
  await sshd.stop();
  if (failed) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
