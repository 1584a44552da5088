/**
 * Many uploads at once through a server that stops reading (its processes stopped with
 * SIGSTOP, as a frozen or overloaded host would be): burrow keeps what it takes from its
 * clients bounded, instead of sending every channel's window into the SSH connection's
 * queue, and every byte arrives once the server goes on.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { startSshd, descendants, type Sshd } from '../helpers/sshd.js';
import { runBurrow, forwardPort, type Running } from '../helpers/cli.js';
import { MiB, connect, exchange, random, sha256, startTarget, type Target } from '../forward/util.js';

let sshd: Sshd | undefined;
let target: Target | undefined;
let burrow: Running | undefined;
let stopped: number[] = [];

const signal = (pids: number[], sig: NodeJS.Signals): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
};

after(async () => {
  signal(stopped, 'SIGCONT');
  await burrow?.stop();
  await target?.close();
  await sshd?.stop();
});

/** Resident memory of a process, in bytes. */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Resolves once the clients' unsent bytes have not moved for `quietPolls` polls in a row:
 * nothing on the way takes more. Fails after `maxPolls`.
 */
async function settled(sockets: net.Socket[], quietPolls = 10, maxPolls = 600): Promise<void> {
  let last = -1;
  let quiet = 0;
  for (let i = 0; i < maxPolls; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const unsent = sockets.reduce((n, s) => n + s.writableLength, 0);
    quiet = unsent === last ? quiet + 1 : 0;
    last = unsent;
    if (quiet >= quietPolls) return;
  }
  throw new Error('the uploads never stopped moving while the server was stopped');
}

/** Resolves once the target has received uploads with each of these hashes. */
async function arrived(t: Target, hashes: string[]): Promise<void> {
  while (!hashes.every((h) => t.received.some((r) => r.hash === h))) await t.waitReceived(t.received.length + 1);
}

test('100 uploads through a stopped server: burrow holds a bounded amount, and every byte arrives after it resumes, clients that quit meanwhile are let go', { timeout: 180_000 }, async (t) => {
  sshd = await startSshd();
  target = await startTarget(Buffer.from('ok'));
  burrow = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${target.port}`, 'test-sshd']);
  const port = await forwardPort(burrow);
  const pid = burrow.child.pid as number;

  // Every channel open end to end (the target's 'ok' came back) before the server stops.
  const n = 100;
  const ups = Array.from({ length: n }, () => random(4 * MiB));
  const sockets = await Promise.all(
    ups.map(async () => {
      const s = await connect({ host: '127.0.0.1', port });
      await new Promise((r) => s.once('data', r));
      s.resume();
      return s;
    }),
  );
  const before = rss(pid);
  stopped = descendants(sshd.process.pid as number);
  assert.ok(stopped.length > 0, 'sshd serves the connection from processes of its own');
  signal(stopped, 'SIGSTOP');

  for (const [i, s] of sockets.entries()) s.end(ups[i] as Buffer);
  await settled(sockets);
  const grown = rss(pid) - before;
  t.diagnostic(`burrow grew by ${(grown / MiB).toFixed(1)} MiB`);
  // sshd gives each channel a 2 MiB window: sending all of it would hold ~250 MiB here.
  // Measured: ~19 MiB; 44 MiB when each connection read on to the channel's high-water mark.
  assert.ok(grown < 48 * MiB, `burrow grew by ${(grown / MiB).toFixed(1)} MiB while the server was stopped`);

  // Some clients give up while their writes wait: their channels close, nothing else is lost.
  const quitters = new Set(sockets.slice(0, 10));
  for (const s of quitters) s.resetAndDestroy();
  signal(stopped, 'SIGCONT');
  stopped = [];
  const expected = ups.filter((_, i) => !quitters.has(sockets[i] as net.Socket)).map(sha256);
  await arrived(target, expected);

  // The tunnel goes on working.
  const up = random(MiB);
  const late = await connect({ host: '127.0.0.1', port });
  const got = await exchange(late, up);
  assert.equal(got.hash, sha256(Buffer.from('ok')));
  await arrived(target, [sha256(up)]);
  await burrow.stop();
  assert.equal(burrow.child.signalCode, null, 'burrow exited on its own after Ctrl-C');
});
