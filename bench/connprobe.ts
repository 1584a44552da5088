/**
 * Diagnostic for new connections across the delay line: each peer's connect→1 byte→reply
 * latency, for connections made one at a time (the previous one closed several RTTs
 * before) and back to back (the next one dialled as soon as the previous one closed, as
 * `run.ts` measures), in ms and in RTTs. `openssh-session` and `burrow-session` run `sleep`
 * on the server instead of `-N`: a command makes sshd (before 10.1) turn Nagle's algorithm
 * off on the connection, which `-N` never does (README, "Latency: what limits each case").
 *
 *   node --import tsx bench/connprobe.ts [RTT] [peers] [DIR]
 *
 * e.g. `bench/connprobe.ts 50 raw,openssh-aes,openssh-session,burrow-aes,burrow-session /tmp/cp`. With DIR,
 * a `tcpdump` capture per peer of the SSH connection and the local port (DIR/<peer>.pcap).
 * Hold /tmp/burrow-bench.lock around it like any bench run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SERVER_ADDR } from './lib/netns.js';
import { installSignalHandlers, sleep, startDaemon } from './lib/proc.js';
import { onDelayedSite, runProbe } from './lib/site.js';
import { BENCH_HOST } from './lib/sshd.js';
import { median } from './lib/stats.js';
import { buildTools } from './lib/tools.js';
import { AES, BURROW_CLI, PEERS, type ForwardPlan, type PeerEnv, type Running } from './peers/index.js';

const LISTEN = 30001;
const TARGET = 27001;
const PLAN: ForwardPlan = { local: [{ listen: LISTEN, host: SERVER_ADDR, port: TARGET }], remote: [], dynamic: [] };
const SINGLES = 7;
const IN_A_ROW = 15;

/**
 * A forwarder with a session instead of `-N` (`sleep` on the server), once its SSH
 * connection is up: 1.5 s after it listens (burrow listens before it connects).
 */
async function withSession(env: PeerEnv, command: string[]): Promise<Running> {
  const argv = [...env.prefix, ...command, '-F', await env.config(AES), '-L', `127.0.0.1:${LISTEN}:${SERVER_ADDR}:${TARGET}`, BENCH_HOST, 'sleep', '3600'];
  const d = await startDaemon(argv[0] as string, argv.slice(1));
  for (let i = 0; i < 200; i++) {
    const ss = spawnSync(env.prefix[0] as string, [...env.prefix.slice(1), 'ss', '-Hltn', `sport = :${LISTEN}`], { encoding: 'utf8' });
    if (ss.stdout.trim()) {
      await sleep(1500);
      return { pid: d.pid, stop: () => d.stop() };
    }
    await sleep(50);
  }
  await d.stop();
  throw new Error(`${command.join(' ')} with a session did not listen: ${d.stderr()}`);
}

const SESSIONS: Record<string, () => string[]> = { 'openssh-session': () => ['ssh'], 'burrow-session': () => BURROW_CLI };

async function main(): Promise<void> {
  installSignalHandlers();
  const [rttArg = '50', peersArg = 'raw,openssh-aes,openssh-session,burrow-aes,burrow-session', dirArg] = process.argv.slice(2);
  const rtt = Number(rttArg);
  const dir = dirArg ? resolve(dirArg) : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const tools = await buildTools();
  await onDelayedSite(tools, rtt, 'default', async ({ pair, env }) => {
    console.log(`new connections at ${rtt} ms RTT: median ms (RTTs), ${SINGLES} one at a time ${Math.max(300, 4 * rtt)} ms apart, then ${IN_A_ROW} in a row`);
    for (const id of peersArg.split(',')) {
      const raw = id === 'raw';
      const session = SESSIONS[id];
      const peer = PEERS[id as keyof typeof PEERS];
      if (!session && !peer) throw new Error(`unknown peer ${id}`);
      const running = session ? await withSession(env, session()) : await peer.start(env, PLAN);
      const capture = dir
        ? spawn(pair.inClient[0] as string, [...pair.inClient.slice(1), 'tcpdump', '-i', 'any', '-nn', '-w', join(dir, `${id}.pcap`), `port 2222 or port ${LISTEN}`], { stdio: 'ignore' })
        : undefined;
      try {
        await sleep(500);
        const rr = (n: number): number => {
          const [host, port] = raw ? [SERVER_ADDR, TARGET] : ['127.0.0.1', LISTEN];
          const r = spawnSync(pair.inClient[0] as string, [...pair.inClient.slice(1), tools.tcpbench, 'rr', host, String(port), String(n)], { encoding: 'utf8' });
          const out = JSON.parse(r.stdout) as { fails: number; median_ms: number };
          if (r.status !== 0 || out.fails) throw new Error(`${id}: rr failed: ${r.stderr}`);
          return out.median_ms;
        };
        const singles: number[] = [];
        for (let i = 0; i < SINGLES; i++) {
          singles.push(rr(1));
          await sleep(Math.max(300, 4 * rtt));
        }
        const one = median(singles);
        const row = rr(IN_A_ROW);
        const f = (ms: number): string => `${ms.toFixed(1)} (${(ms / rtt).toFixed(2)})`;
        console.log(`  ${id.padEnd(16)} one at a time ${f(one)}   in a row ${f(row)}`);
      } finally {
        capture?.kill('SIGINT');
        await sleep(300);
        await running.stop();
      }
    }
  });
}

runProbe(main);
