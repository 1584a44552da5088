/**
 * A new channel starts at the receive window its connection has learnt (the ssh2
 * patch's `[inherit]`, patches/README.md), less the credit its other open channels
 * hold above 3 MiB: in the CHANNEL_OPEN of a `-L` channel and in the confirmation of a
 * `-R` one, so the server may send that much before any WINDOW_ADJUST. What is
 * observed is what sshd does with it: a channel nobody reads fills with exactly its
 * window and no more.
 *
 * On loopback the tuner learns nothing above 3 MiB (below 5 ms RTT it never grows),
 * so the connection's state is set here as a long fat path leaves it; how it is
 * learnt is `src/ssh/window-tuner.test.ts`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { MiB, random, startEnv, startTarget, type Env } from './util.js';
import { until } from '../helpers/wait.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

const INITIAL = 3 * MiB;
const LEARNT = 8 * MiB;
const origin = { host: '127.0.0.1', port: 1 };

interface Learnt {
  size: number;
  best: number;
  plateau: boolean;
  backoff: number;
}
/** What the last tuner decision on the connection left (ssh2's Client, untyped). */
function setLearnt(l: Learnt | undefined): void {
  (env.opener.client as unknown as { _wlearnt?: Learnt })._wlearnt = l;
}
const windowOf = (ch: Duplex): number => (ch as unknown as { incoming: { window: number } }).incoming.window;

/**
 * Waits until sshd has used all the channel's credit; returns what it sent. (Past the
 * window ssh2 would cut the channel instead: window-overrun.test.ts.)
 */
async function filled(ch: Duplex): Promise<number> {
  ch.on('error', () => {});
  await until('the channel holds its whole window', () => windowOf(ch) === 0);
  return ch.readableLength;
}

test('-L: a new channel opens with the window its connection learnt, less what other open channels hold', async () => {
  const target = await startTarget(random(32 * MiB));
  const to = { host: '127.0.0.1', port: target.port };
  try {
    setLearnt(undefined);
    const fresh = await env.opener.openTcp(to, origin);
    assert.equal(await filled(fresh), INITIAL);
    fresh.destroy();

    setLearnt({ size: LEARNT, best: LEARNT / 1.2, plateau: false, backoff: 3 });
    const a = await env.opener.openTcp(to, origin);
    assert.equal(await filled(a), LEARNT);
    // While `a` holds 5 MiB above the floor, the next channel gets the rest of the 8: 3 MiB.
    const b = await env.opener.openTcp(to, origin);
    assert.equal(await filled(b), INITIAL);
    a.destroy();
    b.destroy();
    // Once they are gone, a new one has all of it again.
    await until('both channels closed', () => Object.keys((env.opener.client as unknown as { _chanMgr: { _channels: object } })._chanMgr._channels).length === 0);
    const c = await env.opener.openTcp(to, origin);
    assert.equal(await filled(c), LEARNT);
    c.destroy();
  } finally {
    setLearnt(undefined);
    await target.close();
  }
});

test('-R: the confirmation of a forwarded connection gives the learnt window', async () => {
  const channels: Duplex[] = [];
  const listener = await env.opener.listenTcp('127.0.0.1', 0, (c) => channels.push(c.accept()));
  const sock = new net.Socket();
  try {
    setLearnt({ size: LEARNT, best: LEARNT / 1.2, plateau: true, backoff: 3 });
    await new Promise<void>((resolve, reject) => sock.connect(listener.port, '127.0.0.1', resolve).once('error', reject));
    sock.on('error', () => {});
    sock.write(random(16 * MiB));
    await until('sshd forwarded the connection', () => channels.length === 1);
    assert.equal(await filled(channels[0] as Duplex), LEARNT);
  } finally {
    setLearnt(undefined);
    sock.destroy();
    for (const c of channels) c.destroy();
    await listener.close();
  }
});
