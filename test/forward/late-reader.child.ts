/**
 * Run by late-reader.test.ts inside a network namespace whose TCP buffers are small: a
 * `-R` upload into a target and a `-L` download into a client, each of which starts
 * reading only after a while. The first bytes through a link then wait in the Conn's
 * handle when the connection becomes a socket (conn.ts `toSocket`), and what the
 * channel sends on must go after them. Prints one JSON line: how many transfers arrived
 * other than sent, and how many Conns became sockets with writes still queued.
 */
import net from 'node:net';
import { startForward } from '../../src/forward/index.js';
import { connCounters } from '../../src/forward/conn.js';
import { Session } from '../../src/ssh/session.js';
import { startSshd } from '../helpers/sshd.js';
import { sshdConfig } from '../helpers/config.js';
import { MiB, connect, random, receive, send, sha256, startTarget } from './util.js';

const REPS = 6;
const lateMs = (): number => 100 + Math.random() * 200;

/** Reads `s` from `lateMs()` on, to its end; resolves with the sha256 of what came. */
async function readLate(s: net.Socket): Promise<string> {
  // Paused first: `receive`'s 'data' listener then leaves it paused until the resume.
  s.pause();
  setTimeout(() => s.resume(), lateMs());
  return (await receive(s)).hash;
}

const sshd = await startSshd();
const session = await Session.connect({ config: sshdConfig(sshd) });
let remoteBad = 0;
let localBad = 0;
try {
  // -R: the client uploads through sshd; the target reads late.
  const up = random(8 * MiB);
  let onTarget: ((hash: string) => void) | undefined;
  const target = net.createServer({ allowHalfOpen: true }, (s) => {
    void readLate(s).then((hash) => {
      s.end();
      onTarget?.(hash);
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const rfwd = await startForward({ kind: 'remote', text: `0:127.0.0.1:${(target.address() as net.AddressInfo).port}` }, session);
  const rat = rfwd.address();
  if (rat?.type !== 'tcp') throw new Error('no -R port');
  for (let i = 0; i < REPS; i++) {
    const arrived = new Promise<string>((r) => (onTarget = r));
    const s = await connect({ host: '127.0.0.1', port: rat.port });
    s.resume();
    await send(s, up);
    if ((await arrived) !== sha256(up)) remoteBad++;
    s.destroy();
  }
  await rfwd.close();
  target.close();

  // -L: the target behind sshd sends; the client reads late.
  const down = random(8 * MiB);
  const source = await startTarget(down);
  const lfwd = await startForward({ kind: 'local', text: `0:127.0.0.1:${source.port}` }, session);
  const lat = lfwd.address();
  if (lat?.type !== 'tcp') throw new Error('no -L port');
  for (let i = 0; i < REPS; i++) {
    const s = await connect({ host: '127.0.0.1', port: lat.port });
    s.end();
    if ((await readLate(s)) !== sha256(down)) localBad++;
  }
  await lfwd.close();
  await source.close();
} finally {
  await session.close();
  await sshd.stop();
}
console.log(JSON.stringify({ reps: REPS, remoteBad, localBad, socketedQueued: connCounters.socketedQueued, accepted: connCounters.accepted, dialed: connCounters.dialed }));
