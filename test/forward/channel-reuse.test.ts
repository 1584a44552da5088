/**
 * A closed channel's number goes to the next channel: nothing the old channel does
 * after its CLOSE may reach the new one. sshd gives a new channel the lowest free
 * number, and frees a number once CLOSE went both ways; a WINDOW_ADJUST sent later
 * under the old number credits the new channel, and sshd then sends past the window
 * ssh2 granted. Stock ssh2 dropped those bytes: a download through the new channel
 * arrived short, with a hole in the middle (seen in CI, after clients reset
 * mid-transfer).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { MiB, random, sha256, startEnv, startTarget, type Env } from './util.js';
import { until } from '../helpers/wait.js';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

/** ssh2's view of a channel's receive window (public on ClientChannel, untyped). */
const windowOf = (ch: Duplex): number => (ch as unknown as { incoming: { window: number } }).incoming.window;

test('a channel drained after its CLOSE does not credit the channel that reuses its number', async () => {
  const down = random(32 * MiB);
  const target = await startTarget(down);
  const origin = { host: '127.0.0.1', port: 1 };
  const to = { host: '127.0.0.1', port: target.port };
  const transport = (env.opener.client as unknown as { _sock: Socket })._sock;
  try {
    // A: a download nobody reads, until its whole window sits in its buffer.
    const a = await env.opener.openTcp(to, origin);
    a.on('error', () => {});
    await until('the first channel holds its whole window', () => windowOf(a) === 0);

    // Stop reading the connection, close A, and wait for sshd's answer to reach
    // the socket: sshd has then freed A's number.
    transport.pause();
    a.destroy();
    await until("sshd's CLOSE arrived", () => transport.readableLength > 0);

    // B is opened under A's number. A's reader then drains A: ssh2 must send
    // nothing for A now (before the fix: a WINDOW_ADJUST, which sshd gave to B).
    const opened = env.opener.openTcp(to, origin);
    a.read();
    transport.resume();
    const b = await opened;

    // B fills its window before anyone reads it. Credit it did not get from ssh2
    // makes sshd send on, past the window (stock ssh2 dropped those bytes; ours
    // closes the channel: window-overrun.test.ts).
    await until('the second channel holds its whole window', () => windowOf(b) <= 0);
    // A channel opened after B and filled too: sshd has had time to send B more.
    const c = await env.opener.openTcp(to, origin);
    await until('a third channel holds its whole window', () => windowOf(c) <= 0);
    c.destroy();
    assert.equal(windowOf(b), 0, 'sshd sent the second channel more than ssh2 granted it');
    const parts: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      b.on('data', (chunk: Buffer) => parts.push(chunk));
      b.once('end', resolve);
      b.once('error', reject);
    });
    const got = Buffer.concat(parts);
    assert.equal(got.length, down.length);
    assert.equal(sha256(got), sha256(down));
    b.destroy();
  } finally {
    transport.resume();
    await target.close();
  }
});
