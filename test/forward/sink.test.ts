/**
 * Channel data straight to the local socket (src/forward/sink.ts), through a real sshd:
 * whichever path a packet takes (sendmsg from the read buffer, Node's socket write when
 * the kernel's buffer is full, the channel's stream behind data already in it), the
 * bytes arrive intact and in order. The sink's contract alone: src/forward/sink.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { startForward } from '../../src/forward/index.js';
import { sinkCounters } from '../../src/forward/sink.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { Session } from '../../src/ssh/session.js';
import { arenaCounters } from '../../src/ssh/read-arena.js';
import { nativeRxCounters } from '../../src/ssh/native-rx.js';
import { sshdConfig } from '../helpers/config.js';
import { MiB, connect, exchange, forwardToTarget, random, receive, receiveStopping, sha256, socks5, startEnv, startTarget, type Env } from './util.js';

/** ssh2's channel-window settings (the patch's `setWindowOptions`). */
interface WindowOptions {
  initial: number;
  max: number;
  autoTune: boolean;
  adjustDivisor: number;
}
const windows = createRequire(import.meta.url)('ssh2/lib/Channel.js') as {
  getWindowOptions(): WindowOptions;
  setWindowOptions(o: Partial<WindowOptions>): WindowOptions;
};

let env: Env;
const down = random(48 * MiB);
const downHash = sha256(down);

before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

test('-L download to a fast reader: sent straight from the read buffer, intact', async (t) => {
  const { port } = await forwardToTarget(t, env.opener, down);
  const before = sinkCounters.direct;
  const s = await connect({ host: '127.0.0.1', port });
  s.end();
  const got = await receive(s);
  assert.equal(got.length, down.length);
  assert.equal(got.hash, downHash);
  // The fast path is on (a compiler was there at install: CI has one) and carried data. How
  // much of it goes straight to the kernel depends on how the reader, in this same process,
  // keeps up (the rest takes Node's socket write): that share is the bench's to measure.
  t.diagnostic(`sent straight to the kernel: ${sinkCounters.direct - before} of ${down.length} bytes`);
  assert.ok(sinkCounters.direct > before, `direct ${sinkCounters.direct - before} of ${down.length}`);
});

test('-L download to a reader that keeps stopping: every path taken, bytes intact and in order', async (t) => {
  const { fwd, port } = await forwardToTarget(t, env.opener, down);
  const direct = sinkCounters.direct;
  const clients = await Promise.all([1, 2, 3].map(() => connect({ host: '127.0.0.1', port })));
  const results = await Promise.all(
    clients.map((s) => {
      s.end();
      return receiveStopping(s);
    }),
  );
  for (const got of results) {
    assert.equal(got.length, down.length);
    assert.equal(got.hash, downHash);
  }
  assert.ok(sinkCounters.direct > direct, 'some data went straight to the kernel');
  assert.equal(fwd.stats.bytesIn, 3 * down.length);

  // A reader that stands still from its first bytes while the rest of a download and
  // its EOF arrive: 8 MiB in a 16 MiB window, twice what a stopped loopback socket's
  // kernel buffers take (~4 MiB). The rest goes through Node's socket write (the sink's
  // spill, or the native loop handing back what it held when the EOF comes), in order.
  const short = random(8 * MiB);
  const { port: shortPort } = await forwardToTarget(t, env.opener, short);
  const viaSocket = sinkCounters.viaSocket;
  const was = windows.getWindowOptions();
  windows.setWindowOptions({ initial: 16 * MiB, autoTune: false });
  t.after(() => void windows.setWindowOptions(was));
  const s = await connect({ host: '127.0.0.1', port: shortPort });
  s.end();
  const got = await receiveStopping(s, undefined, () => sinkCounters.viaSocket > viaSocket);
  windows.setWindowOptions(was);
  assert.equal(got.length, short.length);
  assert.equal(got.hash, sha256(short));
  assert.ok(sinkCounters.viaSocket > viaSocket, "some data went through Node's socket write (a full socket)");
});

test("burrow's own session (read arenas reused, not dropped): -L and -D downloads to fast and stopping readers, an upload at once, all intact", async (t) => {
  const session = await Session.connect({ config: sshdConfig(env.sshd) });
  const target = await startTarget(down);
  const local = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), session);
  const dynamic = await startForward(parseForwardSpec('dynamic', '0'), session);
  t.after(async () => {
    await local.close();
    await dynamic.close();
    await target.close();
    await session.close();
  });
  const l = local.address();
  const d = dynamic.address();
  assert.ok(l?.type === 'tcp' && d?.type === 'tcp');
  if (l?.type !== 'tcp' || d?.type !== 'tcp') return;
  const { reused, dropped } = arenaCounters;
  const loopBytes = nativeRxCounters.bytes;
  const up = random(16 * MiB);
  const viaSocks = async (): Promise<net.Socket> => {
    const s = await connect({ host: '127.0.0.1', port: d.port });
    await socks5(s, { ipv4: '127.0.0.1' }, target.port);
    return s;
  };
  const [fast, stopping, socksStopping, uploader] = await Promise.all([
    connect({ host: '127.0.0.1', port: l.port }),
    connect({ host: '127.0.0.1', port: l.port }),
    viaSocks(),
    connect({ host: '127.0.0.1', port: l.port }),
  ]);
  for (const s of [fast, stopping, socksStopping]) s.end();
  const results = await Promise.all([receive(fast), receiveStopping(stopping), receiveStopping(socksStopping), exchange(uploader, up)]);
  for (const got of results) {
    assert.equal(got.length, down.length);
    assert.equal(got.hash, downHash);
  }
  await target.waitReceived(4);
  assert.ok(target.received.some((r) => r.hash === sha256(up)), 'the upload arrived intact');
  // Node's reads land in the arenas, the native loop's (ssh/native-rx.ts) in its own
  // buffer: while the loop carries the downloads Node may read too little to fill one.
  const loop = nativeRxCounters.bytes - loopBytes;
  t.diagnostic(`arenas reused ${arenaCounters.reused - reused}, dropped ${arenaCounters.dropped - dropped}; the native loop carried ${loop} bytes`);
  assert.ok(arenaCounters.reused > reused || loop > 0, 'read arenas were reused, or the native loop read instead');
  // Nothing a sink took or refused kept an arena from reuse (refused packets go to the
  // stream as copies). Allowed: the handshake's arena, and one per channel whose first
  // data came before its sink was attached. Before the copies: 74–165 dropped here.
  assert.ok(arenaCounters.dropped - dropped <= 5, `${arenaCounters.dropped - dropped} read arenas dropped`);
});
