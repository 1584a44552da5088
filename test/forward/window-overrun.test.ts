/**
 * A server that sends past the window burrow granted: the channel is closed with an
 * error and the forwarded client reset, never handed a stream with a hole in it. The peer is a bare ssh2
 * server that gives itself 4 MiB of credit it was never granted (what a WINDOW_ADJUST
 * meant for another channel did to sshd, see channel-reuse.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ServerChannel } from 'ssh2';
import { startForward } from '../../src/forward/index.js';
import { EventBus, type TunnelEvent } from '../../src/events.js';
import { generateEd25519Pair } from '../../src/demo/host-key.js';
import { MiB, connect, random, sha256 } from './util.js';
import { connectOpener, type Ssh2Opener } from './ssh2-opener.js';
import type { Sshd } from '../helpers/sshd.js';
import { until } from '../helpers/wait.js';

const EXTRA = 4 * MiB;
const down = random(64 * MiB);
let dir: string;
let server: InstanceType<typeof ssh2.Server>;
let opener: Ssh2Opener;
const channels: ServerChannel[] = [];

/** ssh2's view of a channel's sending side (untyped internals). */
const outgoing = (ch: ServerChannel): { window: number; state: string } => (ch as unknown as { outgoing: { window: number; state: string } }).outgoing;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-overrun-'));
  const clientKey = join(dir, 'id_ed25519');
  writeFileSync(clientKey, generateEd25519Pair().private, { mode: 0o600 });
  server = new ssh2.Server({ hostKeys: [generateEd25519Pair().private] }, (conn) => {
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () => {
      conn.on('tcpip', (accept) => {
        const ch = accept();
        ch.on('error', () => {});
        channels.push(ch);
        outgoing(ch).window += EXTRA;
        ch.end(down);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const peer = { host: '127.0.0.1', port, user: 'tester', clientKeyPath: clientKey } as Sshd;
  opener = await connectOpener(peer, 'overrunner');
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  opener.end();
  await new Promise((r) => server.close(r));
});

test('a server sending past the window: the channel is cut with an error naming the window, the client gets no hole', async () => {
  const bus = new EventBus();
  const events: TunnelEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const fwd = await startForward({ kind: 'local', text: '0:127.0.0.1:9' }, opener, { bus });
  try {
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    const s = await connect({ host: '127.0.0.1', port: addr.port });
    s.pause();
    // The client does not read: once its socket buffers are full the forward stops
    // granting window, the server spends its false credit, and burrow must close
    // the channel (before, it dropped the bytes past the window and went on).
    await until('burrow closed the overrun channel', () => channels[0] !== undefined && outgoing(channels[0]).state === 'closed');
    const parts: Buffer[] = [];
    await new Promise<void>((resolve) => {
      s.on('data', (c: Buffer) => parts.push(c));
      // Reset by the forward. (Linux may report a reset that came while the
      // client's receive queue was full as a plain end of stream once drained.)
      s.once('end', resolve);
      s.once('error', () => resolve());
      s.resume();
    });
    const got = Buffer.concat(parts);
    assert.ok(got.length < down.length, `${got.length} bytes arrived`);
    assert.equal(sha256(got), sha256(down.subarray(0, got.length)), 'what arrived is the start of the stream, without a hole');
    await until('the client is counted closed', () => events.some((e) => e.type === 'client-close'));
    const c = events.find((e) => e.type === 'client-close');
    assert.match(c?.type === 'client-close' ? (c.error?.message ?? '') : '', /window/);
  } finally {
    fwd.destroy();
  }
});
