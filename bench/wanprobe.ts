/**
 * Diagnostic for the latency downloads: one RTT, default or tuned buffers, a few
 * downloads per peer (interleaved rep by rep, one transfer per forwarder process, or
 * WANPROBE_TRANSFERS=N in a row through the same one). Writes under DIR, per peer: the window tuner's log (`SSH2_WINDOW_DEBUG`)
 * and, unless WANPROBE_NOSAMPLE=1, `ss -tinm` samples of the sender's socket (sshd's
 * side of the SSH connection, or the target's for raw TCP), of the client's socket and
 * sshd's CPU ticks. The sampling costs CPU on 2 cores: read its throughputs as perturbed.
 *
 *   node --import tsx bench/wanprobe.ts RTT DIR [default|tuned] [peers] [MiB] [reps]
 *
 * e.g. `bench/wanprobe.ts 50 /tmp/wp default raw,openssh-aes,burrow-aes 128 2`.
 * WANPROBE_DIR=put measures uploads instead of downloads, WANPROBE_DIR=get,get,put a sequence.
 * WANPROBE_WINDOWS=auto,3145728,... adds burrow runs with fixed channel windows (bytes),
 * WANPROBE_ALT='node /path/bin/burrow.js' a run of another build (an A/B in one run),
 * WANPROBE_GAP=ms an idle gap before each later transfer, WANPROBE_CC=cubic (or bbr) the
 * namespaces' TCP congestion control instead of the host's,
 * WANPROBE_PERF=1 a system-wide `perf record` per run, WANPROBE_PCAP=1 a `tcpdump` of the
 * SSH connection's headers (raw TCP's for `raw`) in the server namespace per run
 * (`TAG.rREP.pcap`), WANPROBE_RECONNECT=1 (with
 * WANPROBE_TRANSFERS) a new SSH connection before each later download of burrow, WANPROBE_JUMP=1
 * the forwarders through `-J` (the bench's sshd as both hops, as in `run.ts`). Each line also
 * gives the forwarder's CPU per thread, wakeups, minor faults and RSS over the download
 * (`lib/threads.ts`). Hold /tmp/burrow-bench.lock around it like any bench run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bulk, type Target } from './cases/traffic.js';
import { CLIENT_NS, SERVER_ADDR, SERVER_NS, type DelayedPair } from './lib/netns.js';
import { commCpuSeconds, installSignalHandlers, sleep, startDaemon, type Daemon } from './lib/proc.js';
import { onDelayedSite, runProbe } from './lib/site.js';
import { describeThreads, sampleThreads } from './lib/threads.js';
import { buildTools, type Tools } from './lib/tools.js';
import { BURROW_CLI, JUMP_PEERS, PEERS, setBurrowCommand, type ForwardPlan, type PeerEnv } from './peers/index.js';

const MiB = 1024 * 1024;
const PLAN: ForwardPlan = { local: [{ listen: 30001, host: SERVER_ADDR, port: 27001 }], remote: [], dynamic: [] };

/** One download: a peer, and for burrow a fixed window ('auto' = the tuner) or the alternative build ('alt'). */
interface Run {
  id: keyof typeof PEERS;
  window: string;
}

/**
 * Samples every ~20 ms until stopped: `ss -tinm` for the sender's socket (source port
 * `sport`) in the server namespace (`file`), the receiver's socket in the client
 * namespace (`file.client`), and the CPU ticks of every sshd process (`file.cpu`).
 * Three loops, so that one slow `ss` does not thin out the others.
 */
async function sampleSockets(file: string, sport: number): Promise<{ stop(): Promise<void> }> {
  const stamp = 'echo "T $(date +%s.%N)"';
  const loops = [
    ['ip', ['netns', 'exec', SERVER_NS, 'sh', '-c', `while :; do ${stamp}; ss -tinmH state established "( sport = :${sport} )"; sleep 0.02; done > ${file}`]],
    ['ip', ['netns', 'exec', CLIENT_NS, 'sh', '-c', `while :; do ${stamp}; ss -tnmH state established "( dport = :${sport} )"; sleep 0.02; done > ${file}.client`]],
    ['sh', ['-c', `P=$(pgrep -x sshd); while :; do ${stamp}; for p in $P; do read -r l < /proc/$p/stat && echo "C $p $l"; done; sleep 0.05; done > ${file}.cpu`]],
  ] as const;
  const daemons = await Promise.all(loops.map(([cmd, args]) => startDaemon(cmd, [...args])));
  return { stop: async () => void (await Promise.all(daemons.map((d) => d.stop()))) };
}

/** The peers, or with WANPROBE_JUMP=1 the same ids forwarding through `-J`. */
const peerOf = (id: keyof typeof PEERS) => (process.env.WANPROBE_JUMP ? (JUMP_PEERS as Partial<typeof PEERS>)[id] : PEERS[id]);

/** Every peer in `peers`, burrow once per window setting. */
function plannedRuns(peers: string, windows: string[]): Run[] {
  return peers.split(',').flatMap((name) => {
    const id = name as keyof typeof PEERS;
    if (!peerOf(id)) throw new Error(`unknown peer ${name}`);
    return id.startsWith('burrow') ? windows.map((window) => ({ id, window })) : [{ id, window: 'auto' }];
  });
}

/** Points burrow's command and the ssh2 window environment at this run's setting. */
function configureBurrow(run: Run, dir: string, tag: string): void {
  process.env.SSH2_WINDOW_DEBUG = join(dir, `${tag}.window.log`);
  if (run.window === 'auto' || run.window === 'alt') delete process.env.SSH2_CHANNEL_WINDOW;
  else process.env.SSH2_CHANNEL_WINDOW = run.window;
  const alt = process.env.WANPROBE_ALT;
  setBurrowCommand(run.window === 'alt' && alt ? alt.split(' ') : BURROW_CLI);
}

async function stopPerf(perf: Daemon | undefined): Promise<void> {
  if (!perf) return;
  perf.child.kill('SIGINT');
  await new Promise((r) => perf.child.once('exit', r));
}

/** Destroys the client's SSH socket(s) to sshd, then gives the forwarder time to reconnect. */
async function dropSshConnection(): Promise<void> {
  const toSshd = ['dst', SERVER_ADDR, 'dport', '=', ':2222'];
  const r = spawnSync('ip', ['netns', 'exec', CLIENT_NS, 'ss', '-K', ...toSshd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ss -K failed: ${r.stderr}`);
  await sleep(3000);
  const after = spawnSync('ip', ['netns', 'exec', CLIENT_NS, 'ss', '-tnH', 'state', 'established', ...toSshd], { encoding: 'utf8' });
  console.log(`dropped: ${r.stdout.trim().split('\n').slice(1).join(' ').replace(/\s+/g, ' ')}; reconnected: ${after.stdout.trim().replace(/\s+/g, ' ') || 'no SSH connection'}`);
}

/** Starts the peer, downloads `bytes` (WANPROBE_TRANSFERS times) while sampling, stops it; logs a line per download. */
async function downloadRuns(tools: Tools, pair: DelayedPair, env: PeerEnv, run: Run, rep: number, bytes: number, dir: string): Promise<void> {
  const peer = peerOf(run.id) as (typeof PEERS)[keyof typeof PEERS];
  const raw = peer.family === 'raw';
  const target: Target = raw ? { prefix: pair.inClient, host: SERVER_ADDR, port: 27001 } : { prefix: pair.inClient, host: '127.0.0.1', port: 30001 };
  const tag = run.window === 'auto' ? run.id : `${run.id}-w${run.window}`;
  configureBurrow(run, dir, tag);
  const running = await peer.start(env, PLAN);
  const sampler = process.env.WANPROBE_NOSAMPLE ? undefined : await sampleSockets(join(dir, `${tag}.r${rep}.ss.txt`), raw ? 27001 : 2222);
  const perf = process.env.WANPROBE_PERF ? await startDaemon('perf', ['record', '-q', '-F', '499', '-a', '-o', join(dir, `${tag}.perf.data`)]) : undefined;
  const pcapArgs = ['-i', 'any', '-s', '128', '-B', '32768', '-U', '-n', '-w', join(dir, `${tag}.r${rep}.pcap`), 'tcp', 'port', String(raw ? 27001 : 2222)];
  const pcap = process.env.WANPROBE_PCAP ? await startDaemon(pair.inServer[0] as string, [...pair.inServer.slice(1), 'tcpdump', ...pcapArgs], { ready: /listening on/ }) : undefined;
  try {
    // WANPROBE_TRANSFERS=N: N downloads in a row through the same process (the first pays
    // V8's warm-up, the later ones show a tunnel that has been up for a while).
    // WANPROBE_DIR=put: uploads; a list (get,get,put) is the sequence of transfers.
    const dirs = (process.env.WANPROBE_DIR ?? 'get').split(',').map((d) => (d === 'put' ? 'put' : 'get'));
    const transfers = dirs.length > 1 ? dirs.length : Math.max(1, Math.floor(Number(process.env.WANPROBE_TRANSFERS)) || 1);
    for (let k = 1; k <= transfers; k++) {
      // WANPROBE_RECONNECT=1: before each later download the SSH connection's socket is
      // destroyed (`ss -K`) and the forwarder reconnects: a warmed-up process on a new TCP
      // connection to a new sshd (what a second download gains from each). burrow only:
      // OpenSSH's client exits with its connection.
      if (k > 1 && process.env.WANPROBE_RECONNECT && run.id.startsWith('burrow')) await dropSshConnection();
      // WANPROBE_GAP=ms: the tunnel idle that long before each later transfer (in run.ts the
      // other peers' transfers of the same case come in between).
      if (k > 1 && Number(process.env.WANPROBE_GAP) > 0) await sleep(Number(process.env.WANPROBE_GAP));
      const t0 = Date.now() / 1000;
      const before = sampleThreads(running.pid);
      const sshd0 = commCpuSeconds('sshd');
      const way = dirs[Math.min(k, dirs.length) - 1] as 'get' | 'put';
      const m = await bulk(tools.tcpbench, target, way, bytes, running.pid);
      const after = sampleThreads(running.pid);
      // The server's CPU for the same download (all sshd processes; none for raw TCP).
      const sshdCpu = ((commCpuSeconds('sshd') - sshd0) * 1024 * MiB) / bytes;
      const nth = (transfers > 1 ? ` #${k}` : '') + (way === 'put' ? ' put' : '');
      const line = `${tag} rep ${rep}${nth} start=${t0.toFixed(3)} end=${(Date.now() / 1000).toFixed(3)} ${JSON.stringify(m)} ${describeThreads(running.pid, before, after, bytes)}; sshd ${sshdCpu.toFixed(2)} CPU-s/GiB`;
      console.log(line);
      writeFileSync(join(dir, 'runs.txt'), `${line}\n`, { flag: 'a' });
    }
  } finally {
    await stopPerf(perf);
    if (pcap) {
      await sleep(1000); // tcpdump loses what its ring still holds when stopped
      await pcap.stop();
      console.log(`tcpdump: ${pcap.stderr().trim().split('\n').slice(-3).join('; ')}`);
    }
    await sampler?.stop();
    await running.stop();
  }
}

async function main(): Promise<void> {
  installSignalHandlers();
  const [rttArg, dirArg = '/tmp/wanprobe', bufArg = 'default', peersArg = 'raw,openssh-aes,burrow-aes', mibArg = '128', repsArg = '2'] = process.argv.slice(2);
  const dir = resolve(dirArg);
  mkdirSync(dir, { recursive: true });
  const windows = [...(process.env.WANPROBE_WINDOWS ?? 'auto').split(','), ...(process.env.WANPROBE_ALT ? ['alt'] : [])];
  const runs = plannedRuns(peersArg, windows);
  const tools = await buildTools();
  await onDelayedSite(tools, Number(rttArg), bufArg === 'tuned' ? 'tuned' : 'default', async ({ pair, env }) => {
    for (let rep = 1; rep <= Number(repsArg); rep++) {
      for (const run of runs) await downloadRuns(tools, pair, env, run, rep, Number(mibArg) * MiB, dir);
    }
    console.log(`  ${(await pair.lineStats()).replace(/\n/g, '\n  ')}`);
  }, process.env.WANPROBE_CC);
}

runProbe(main);
