/**
 * Quick side-by-side A/B on loopback: several forwarder commands against one sshd,
 * interleaved repetitions (so machine load hits every command alike), medians.
 *
 *   node --import tsx bench/ab.ts [--reps N] [--mib M] [--rr N] [--cipher aes|chacha] [--cases warm,get,put,dget,dput,rget,rput,rr,drr,rrr,ssf,conc,rconc,cput,idle] 'label=cmd args' ...
 *
 * `dget` is a download through `-D` (SOCKS5), `rget` one through `-R` (the server's port back to the target), `dput` and `rput` the uploads; `drr` and `rrr` are `rr` through `-D` and `-R`; `conc` is 1000 concurrent 1 MiB downloads (wall, failures, peak RSS), `rconc` the same through `-R`, `cput` 1000 concurrent 1 MiB uploads through `-L`; `idle` waits 30 s and gives the RSS before and after. `warm` is an unmeasured 64 MiB download and upload (JIT warm-up) before the cases after it.
 * A case may repeat: `--cases rr,rr,rr` measures three blocks of `--rr` connections in one forwarder process
 * (the medians pool them: read the per-rep lines).
 * AB_THREADS=1 also prints each transfer's (and each `rr` block's) CPU per thread, wakeups, faults and RSS
 * (`lib/threads.ts`); AB_ATTACH / AB_ATTACH_RR run a tool such as perf or strace around each
 * transfer / `rr` block (`startAttached`; `%l` is the peer's label, the case and its place in `--cases`).
 *
 * A command gets ssh's arguments appended (`-N -F cfg -L ... bench`); `ssh` is OpenSSH,
 * `cli` is `bin/burrow.js` (run by its `#!` line), `standin` the ssh2 stand-in, `relay` Node's plain TCP
 * relay (`peers/node-relay.mjs`: no SSH, no sshd; only its `-L` cases run). Not part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { cleanupAll, commCpuSeconds, installSignalHandlers, onCleanup, onExitSync, procCounters, rssMB, sleep, startDaemon } from './lib/proc.js';
import { auditCiphers } from './lib/cipher-audit.js';
import { checkCpus, describeCpus } from './lib/cpu-check.js';
import { freePort } from './lib/ports.js';
import { startSshd } from './lib/sshd.js';
import { buildTools } from './lib/tools.js';
import { bulk, concurrent, connLatency, type Target } from './cases/traffic.js';
import { AES, CHACHA, loopbackPlan, namedPeer, type NamedPeer, type PeerEnv } from './peers/index.js';
import { median, fmt } from './lib/stats.js';
import { describeThreads, sampleThreads } from './lib/threads.js';
import { takeOption } from './lib/args.js';

const MiB = 1024 * 1024;
/** utime, stime (s), minor faults and context switches (voluntary + not) of the process. */
function userSys(pid: number | undefined): [number, number, number, number] {
  if (pid === undefined) return [0, 0, 0, 0];
  const c = procCounters(`/proc/${pid}`);
  return [c.user, c.sys, c.minorFaults, c.switches];
}
/**
 * AB_ATTACH / AB_ATTACH_RR: a command (`%p` the forwarder's pid, `%l` a label) run around
 * one case, e.g. `strace -c -f -o /tmp/x.%l -p %p` or `perf record -g -o /tmp/p.%l -p %p`.
 * It runs in a process group of its own and the whole group gets SIGINT at the end, so
 * a tool behind a redirect or a pipe in `sh -c` stops too.
 */
async function startAttached(cmd: string | undefined, pid: number | undefined, label: string): Promise<{ stop(): Promise<void> } | undefined> {
  if (!cmd || pid === undefined) return undefined;
  const child = spawn('sh', ['-c', cmd.replaceAll('%p', String(pid)).replaceAll('%l', label)], { stdio: 'inherit', detached: true });
  const exited = new Promise((r) => child.once('exit', r));
  const interrupt = (): void => {
    try {
      process.kill(-(child.pid as number), 'SIGINT');
    } catch {
      // already gone
    }
  };
  // Its own group does not get the terminal's Ctrl-C: stop it with the bench too.
  const forgetExit = onExitSync(interrupt);
  const forget = onCleanup(async () => {
    interrupt();
    await exited;
  });
  await new Promise((r) => setTimeout(r, 500));
  return {
    stop: async () => {
      forget();
      forgetExit();
      interrupt();
      await exited;
    },
  };
}

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => takeOption(argv, name, dflt);
const reps = Number(opt('--reps', '3'));
const mib = Number(opt('--mib', '128'));
const cipher = opt('--cipher', 'aes') === 'chacha' ? CHACHA : AES;
const cases = opt('--cases', 'get,put,rr,ssf').split(',');
/** The cases through -D or -R (`d…`, `r…`, but `rr` is -L's). */
const VIA: Record<string, 'D' | 'R'> = { dget: 'D', dput: 'D', drr: 'D', rget: 'R', rput: 'R', rrr: 'R', rconc: 'R' };
const rrCount = Number(opt('--rr', '100'));
const cmds = argv.map(namedPeer);

installSignalHandlers();
const cpuStart = describeCpus('start', await checkCpus(1));
console.log(cpuStart);
const tools = await buildTools();
const sshd = await startSshd({ addr: '127.0.0.1', port: await freePort() });
const port = await freePort();
const ssf = await freePort();
const server = await startDaemon(tools.tcpbench, ['server', '127.0.0.1', String(port), String(ssf)], { ready: /ready/, timeoutMs: 60_000 });
const results = new Map<string, number[]>();
const add = (k: string, v: number): void => void (results.get(k) ?? results.set(k, []).get(k))?.push(v);
const peerFor = (c: NamedPeer) => c.peer(cipher);
try {
  // A build that ignores Ciphers would run aes128-gcm under a chacha label.
  for (const c of cmds) if (!c.relay) await auditCiphers([peerFor(c)]);
  for (let rep = 0; rep < reps; rep++) {
    for (const c of cmds) {
      const { plan, ports } = await loopbackPlan(port, ssf);
      const env: PeerEnv = { prefix: [], config: (ci) => sshd.clientConfig(ci) };
      const peer = peerFor(c);
      const running = await peer.start(env, plan);
      const t: Target = { prefix: [], host: '127.0.0.1', port: ports.local };
      // The cases that go through -D (SOCKS5) or -R (the server's port back to the target); -L otherwise.
      const through = (k: string): Target => {
        const via = VIA[k];
        if (via === 'D') return { ...t, port, env: { TCPBENCH_SOCKS: `127.0.0.1:${ports.dynamic}` } };
        return via === 'R' ? { ...t, port: ports.remote } : t;
      };
      try {
        const line: string[] = [];
        for (const [i, k] of cases.entries()) {
          if (k === 'warm') {
            // An unmeasured 64 MiB each way first: later cases see a warmed-up JIT (the
            // sending path has code of its own, that a download does not warm).
            await bulk(tools.tcpbench, t, 'get', 64 * MiB, running.pid);
            await bulk(tools.tcpbench, t, 'put', 64 * MiB, running.pid);
          } else if (k === 'get' || k === 'put' || k === 'dget' || k === 'dput' || k === 'rget' || k === 'rput') {
            const attach = await startAttached(process.env.AB_ATTACH, running.pid, `${c.label}-${k}${i + 1}`);
            const st0 = userSys(running.pid);
            const sshd0 = commCpuSeconds('sshd');
            const threads = process.env.AB_THREADS ? sampleThreads(running.pid) : undefined;
            const m = await bulk(tools.tcpbench, through(k), k.endsWith('put') ? 'put' : 'get', mib * MiB, running.pid);
            const st1 = userSys(running.pid);
            const sshd1 = commCpuSeconds('sshd');
            if (threads) console.log(`  ${c.label} ${k}: ${describeThreads(running.pid, threads, sampleThreads(running.pid), mib * MiB)}`);
            await attach?.stop();
            const gib = (mib * MiB) / (1024 * MiB);
            add(`${c.label} ${k} user`, (st1[0] - st0[0]) / gib);
            add(`${c.label} ${k} sys`, (st1[1] - st0[1]) / gib);
            add(`${c.label} ${k} minflt/MiB`, (st1[2] - st0[2]) / (gib * 1024));
            add(`${c.label} ${k} ctxsw/MiB`, (st1[3] - st0[3]) / (gib * 1024));
            add(`${c.label} ${k} MiB/s`, m.throughput as number);
            // The server's side of the same transfer: every sshd process (daemon and session).
            add(`${c.label} ${k} sshd cpu`, (sshd1 - sshd0) / gib);
            add(`${c.label} ${k} cpu`, m.cpu as number);
            line.push(`${k} ${fmt(m.throughput)} MiB/s cpu ${fmt(m.cpu)}`);
          } else if (k === 'rr' || k === 'drr' || k === 'rrr') {
            const attach = await startAttached(process.env.AB_ATTACH_RR, running.pid, `${c.label}-${k}${i + 1}`);
            const st0 = userSys(running.pid);
            const sshd0 = commCpuSeconds('sshd');
            const threads = process.env.AB_THREADS ? sampleThreads(running.pid) : undefined;
            const m = await connLatency(tools.tcpbench, through(k), 'rr', rrCount);
            const st1 = userSys(running.pid);
            const sshd1 = commCpuSeconds('sshd');
            if (threads) console.log(`  ${c.label} ${k}: ${describeThreads(running.pid, threads, sampleThreads(running.pid), (rrCount * 1024 * MiB) / 1000)} (read "per GiB" as per 1000 connections: CPU-s/GiB = ms per connection)`);
            await attach?.stop();
            add(`${c.label} ${k} ms`, m.latency as number);
            // The forwarder's CPU per connection (utime+stime, ms): on 2 shared cores it is latency.
            const cpuMs = ((st1[0] - st0[0] + st1[1] - st0[1]) * 1000) / rrCount;
            add(`${c.label} ${k} cpu ms/conn`, cpuMs);
            add(`${c.label} ${k} sys ms/conn`, ((st1[1] - st0[1]) * 1000) / rrCount);
            // sshd's side (daemon and session): the packets a forwarder sends cost it wakeups.
            add(`${c.label} ${k} sshd cpu ms/conn`, ((sshd1 - sshd0) * 1000) / rrCount);
            line.push(`${k} ${fmt(m.latency)} ms cpu ${fmt(cpuMs)} ms/conn`);
          } else if (k === 'conc' || k === 'rconc' || k === 'cput') {
            // 1000 concurrent 1 MiB transfers: wall, failures, the forwarder's peak RSS
            // (conc: downloads; rconc: through -R, the server's port back to the target;
            // cput: uploads through -L).
            const m = await concurrent(tools.tcpbench, through(k), 1000, MiB, running.pid, k === 'cput' ? 'cput' : 'conc');
            add(`${c.label} ${k} s`, m.wall as number);
            add(`${c.label} ${k} failed`, m.errors as number);
            add(`${c.label} ${k} MB`, m.rss as number);
            line.push(`${k} ${fmt(m.wall)} s ${fmt(m.errors)} failed ${fmt(m.rss)} MB`);
          } else if (k === 'idle') {
            // Nothing for 30 s: the forwarder's RSS at the start and the end (what a quiet
            // process gives back after the cases before, e.g. after `conc`).
            const before = rssMB(running.pid as number);
            await sleep(30_000);
            const after = rssMB(running.pid as number);
            add(`${c.label} idle MB`, after);
            line.push(`idle ${fmt(before)} -> ${fmt(after)} MB`);
          } else if (k === 'ssf') {
            const m = await connLatency(tools.tcpbench, { ...t, port: ports.ssf }, 'ssf', 10);
            add(`${c.label} ssf ms`, m.latency as number);
            line.push(`ssf ${fmt(m.latency)} ms`);
          }
        }
        console.log(`rep ${rep + 1} ${c.label.padEnd(10)} ${line.join('  ')}`);
      } finally {
        await running.stop();
      }
    }
  }
} finally {
  await server.stop();
  await sshd.stop();
  await cleanupAll();
}
console.log(`\n${cpuStart}\n${describeCpus('end', await checkCpus(1))}`);
console.log('\nmedians:');
for (const [k, v] of [...results].sort()) console.log(`  ${k.padEnd(26)} ${fmt(median(v))}   [${v.map(fmt).join(' ')}]`);
void resolve;
