/**
 * What Node costs to hand a download's payloads to the local socket, without SSH: the
 * floor under burrow's per-packet path. A process writes 1 GiB to a loopback TCP sink
 * (a child process that discards it) in "reads" of eight 32 KiB views of one buffer,
 * the shape of an SSH download through the read arena, and reports its own user and
 * system CPU seconds per GiB (medians, modes interleaved).
 *
 *   node --import tsx bench/local-write.ts [reps]
 *
 * Modes:
 * - `stream`: the views are pushed into a Readable (as ssh2 pushes payloads into a
 *   channel); its 'data' events write them to the socket, corked for one tick (as
 *   `src/forward/pipe.ts` does): burrow's path today;
 * - `direct`: the same writes without the Readable in between;
 * - `one`: one 256 KiB write per read: the lower bound, if the payloads were
 *   contiguous (they are not: each packet has its header and MAC).
 * Hold /tmp/burrow-bench.lock around it like any bench run.
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { fmt, median } from './lib/stats.js';

const PACKET = 32 * 1024;
const PER_READ = 8;
const GiB = 1024 * 1024 * 1024;
const MODES = ['stream', 'direct', 'one'] as const;
type Mode = (typeof MODES)[number];

/** The sink: accepts one connection, discards what comes, prints its port. */
function sink(): void {
  const server = net.createServer((c) => {
    c.on('data', () => {});
    c.on('end', () => c.end());
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as net.AddressInfo).port));
}

async function run(mode: Mode): Promise<{ user: number; sys: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--sink'], { execArgv: process.execArgv });
  const port = await new Promise<number>((r) => child.once('message', (m) => r(m as number)));
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const buf = Buffer.alloc(PER_READ * PACKET, 7);
  const src = new Readable({ read() {}, highWaterMark: 2 * 1024 * 1024 });
  let corked = false;
  const write = (v: Buffer): boolean => {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    return sock.write(v);
  };
  if (mode === 'stream') {
    src.on('data', (c: Buffer) => {
      if (!write(c)) src.pause();
    });
    sock.on('drain', () => src.resume());
  }
  const t0 = process.cpuUsage();
  let sent = 0;
  await new Promise<void>((done) => {
    const read = (): void => {
      if (sent >= GiB) return done();
      if (mode === 'one') write(buf);
      else {
        for (let i = 0; i < PER_READ; i++) {
          const v = buf.subarray(i * PACKET, (i + 1) * PACKET);
          if (mode === 'stream') src.push(v);
          else write(v);
        }
      }
      sent += buf.length;
      // The next "read" once the socket has room, as the SSH window would pace it.
      if (sock.writableLength + src.readableLength > 512 * 1024) sock.once('drain', () => setImmediate(read));
      else setImmediate(read);
    };
    read();
  });
  sock.end();
  await new Promise((r) => sock.once('close', r));
  const u = process.cpuUsage(t0);
  child.kill();
  return { user: u.user / 1e6 / (sent / GiB), sys: u.system / 1e6 / (sent / GiB) };
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 5);
  const got = new Map<Mode, { user: number[]; sys: number[] }>(MODES.map((m) => [m, { user: [], sys: [] }]));
  for (let i = 0; i < reps; i++) {
    for (const m of MODES) {
      const r = await run(m);
      got.get(m)?.user.push(r.user);
      got.get(m)?.sys.push(r.sys);
    }
  }
  for (const [m, r] of got) {
    console.log(`${m.padEnd(6)} user ${fmt(median(r.user))} sys ${fmt(median(r.sys))} CPU-s/GiB   user [${r.user.map(fmt).join(' ')}]`);
  }
}

if (process.argv.includes('--sink')) sink();
else await main();
