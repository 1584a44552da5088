/**
 * Test plumbing for forwards: target servers that send and hash, clients that do the
 * same, SOCKS client handshakes, and a started sshd + opener per test file.
 */
import net from 'node:net';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { startForward, type Forward } from '../../src/forward/index.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { connectOpener, type Ssh2Opener } from './ssh2-opener.js';

export const MiB = 1024 * 1024;

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface Env {
  sshd: Sshd;
  opener: Ssh2Opener;
  stop(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const sshd = await startSshd();
  try {
    const opener = await connectOpener(sshd);
    return {
      sshd,
      opener,
      async stop() {
        opener.end();
        await sshd.stop();
      },
    };
  } catch (e) {
    await sshd.stop();
    throw e;
  }
}

/** Writes `data` with backpressure, then ends; resolves when all of it was taken. */
export function send(s: net.Socket, data: Buffer, chunk = 256 * 1024): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const pump = (): void => {
      while (off < data.length) {
        const end = Math.min(off + chunk, data.length);
        const ok = s.write(data.subarray(off, end));
        off = end;
        if (!ok) return void s.once('drain', pump);
      }
      s.end(resolve);
    };
    s.once('error', reject);
    pump();
  });
}

/** Reads a socket to its end; resolves with the sha256 and length of what came. */
export function receive(s: net.Socket): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let length = 0;
    s.on('data', (c: Buffer) => {
      h.update(c);
      length += c.length;
    });
    s.once('end', () => resolve({ hash: h.digest('hex'), length }));
    s.once('error', reject);
  });
}

export interface Target {
  port: number;
  path?: string;
  /** sha256 of what each connection received, in the order they ended. */
  received: { hash: string; length: number }[];
  /** Resolves after `n` connections have received their whole upload. */
  waitReceived(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A target service: to each connection it sends `download`, then ends its side, and
 * hashes what the connection uploads.
 */
export async function startTarget(download: Buffer, where: { host?: string; path?: string } = {}): Promise<Target> {
  const received: { hash: string; length: number }[] = [];
  let waiters: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    void send(s, download).catch(() => {});
    void receive(s)
      .then((r) => {
        received.push(r);
        for (const w of waiters) w();
      })
      .catch(() => {});
  });
  await new Promise<void>((r) => (where.path ? server.listen(where.path, r) : server.listen(0, where.host ?? '127.0.0.1', r)));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    ...(where.path ? { path: where.path } : {}),
    received,
    waitReceived(n) {
      return new Promise((resolve) => {
        const check = (): void => {
          if (received.length >= n) {
            waiters = waiters.filter((w) => w !== check);
            resolve();
          }
        };
        waiters.push(check);
        check();
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export function connect(opts: net.NetConnectOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ allowHalfOpen: true, ...opts } as net.NetConnectOpts);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Uploads `up`, downloads to the end: both at once. */
export async function exchange(s: net.Socket, up: Buffer): Promise<{ hash: string; length: number }> {
  const [, got] = await Promise.all([send(s, up), receive(s)]);
  return got;
}

/**
 * One connection through a forward to `target`, checked both ways: uploads `up` on `s`
 * and reads to the end, which must be `down` (what the target sends), and the target's
 * `index`-th connection to end (counted from its start) must have received `up` whole.
 */
export async function roundTrip(s: net.Socket, up: Buffer, down: Buffer, target: Target, index = 0): Promise<void> {
  const got = await exchange(s, up);
  assert.equal(got.hash, sha256(down), `the download arrived altered: ${got.length} bytes of ${down.length}`);
  await target.waitReceived(index + 1);
  const took = target.received[index];
  assert.equal(took?.hash, sha256(up), `the upload arrived altered: ${took?.length} bytes of ${up.length}`);
}

/** Reads exactly n bytes from a socket that is in paused mode. */
export function readExactly(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = (): void => {
      const b = s.read(n) as Buffer | null;
      if (b) {
        s.off('readable', tryRead);
        s.off('error', reject);
        s.off('end', onEnd);
        resolve(b);
      }
    };
    const onEnd = (): void => reject(new Error(`stream ended before ${n} bytes`));
    s.on('readable', tryRead);
    s.once('error', reject);
    s.once('end', onEnd);
    tryRead();
  });
}

export type SocksTarget = { ipv4: string } | { ipv6: Buffer } | { domain: string };

/** A SOCKS5 CONNECT handshake, split over several writes; resolves with the reply code. */
export async function socks5(s: net.Socket, target: SocksTarget, port: number): Promise<number> {
  s.write(Buffer.from([0x05]));
  s.write(Buffer.from([0x01, 0x00]));
  const method = await readExactly(s, 2);
  if (method[1] !== 0x00) throw new Error('no-auth refused');
  let addr: Buffer;
  if ('ipv4' in target) addr = Buffer.from([0x01, ...target.ipv4.split('.').map(Number)]);
  else if ('ipv6' in target) addr = Buffer.concat([Buffer.from([0x04]), target.ipv6]);
  else addr = Buffer.concat([Buffer.from([0x03, Buffer.byteLength(target.domain)]), Buffer.from(target.domain)]);
  const req = Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), addr, Buffer.from([port >> 8, port & 0xff])]);
  s.write(req.subarray(0, 3));
  s.write(req.subarray(3));
  const head = await readExactly(s, 4);
  const alen = head[3] === 0x01 ? 4 : head[3] === 0x04 ? 16 : ((await readExactly(s, 1))[0] as number);
  await readExactly(s, alen + 2);
  return head[1] as number;
}

/** A SOCKS4a CONNECT (host name resolved by the server); resolves with the reply code (0x5a = granted). */
export async function socks4a(s: net.Socket, host: string, port: number): Promise<number> {
  s.write(Buffer.concat([Buffer.from([0x04, 0x01, port >> 8, port & 0xff, 0, 0, 0, 1]), Buffer.from('tester\0'), Buffer.from(`${host}\0`)]));
  const r = await readExactly(s, 8);
  return r[1] as number;
}

export const random = (n: number): Buffer => randomBytes(n);

/** Resolves when nothing listens on 127.0.0.1:port and ::1:port (binds both, then lets go). */
export async function canBind(port: number, host: string): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ port, host, ipv6Only: host.includes(':') }, () => s.close(() => resolve(true)));
  });
}

/**
 * Reads to the end, stopping for 1–12 ms after every `every` bytes: the socket's buffers
 * fill and drain. With `holdUntil`, the first stop comes at the first bytes and lasts
 * until `holdUntil()` is true (5 s at most, over all stops): for what must happen while
 * the reader stands still, whatever the machine's speed.
 */
export function receiveStopping(s: net.Socket, every = 512 * 1024, holdUntil?: () => boolean): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let length = 0;
    let sinceStop = 0;
    let stops = 0;
    let holdEnds: number | undefined;
    s.on('data', (c: Buffer) => {
      h.update(c);
      length += c.length;
      sinceStop += c.length;
      // Holding, the first stop comes at once: the socket's buffers have not grown yet.
      if (sinceStop < every && !(holdUntil && stops === 0)) return;
      sinceStop = 0;
      s.pause();
      const ms = 1 + ((stops++ * 7) % 12);
      holdEnds ??= Date.now() + 5000;
      const wake = (): void => {
        if (holdUntil && !holdUntil() && Date.now() < (holdEnds as number)) setTimeout(wake, ms);
        else s.resume();
      };
      setTimeout(wake, ms);
    });
    s.once('end', () => resolve({ hash: h.digest('hex'), length }));
    s.once('error', reject);
  });
}

/** An -L forward through `opener` to a target that sends `data`; both closed after the test. */
export async function forwardToTarget(t: TestContext, opener: Ssh2Opener, data: Buffer): Promise<{ fwd: Forward; port: number }> {
  const target = await startTarget(data);
  const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), opener);
  t.after(async () => {
    await fwd.close();
    await target.close();
  });
  const addr = fwd.address();
  assert.equal(addr?.type, 'tcp');
  return { fwd, port: addr?.type === 'tcp' ? addr.port : 0 };
}
