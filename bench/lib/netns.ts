/**
 * Two network namespaces joined through the userspace delay line: `burrowbench-c`
 * (10.202.0.1, clients) and `burrowbench-s` (10.202.0.2, servers). Nothing in them
 * has a route anywhere else. Removed by `stop()` or the bench's cleanup.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { onCleanup, onExitSync, run, runOk, startDaemon } from './proc.js';

export const CLIENT_NS = 'burrowbench-c';
export const SERVER_NS = 'burrowbench-s';
export const CLIENT_ADDR = '10.202.0.1';
export const SERVER_ADDR = '10.202.0.2';
const IFNAME = 'bbtun0';
/** Large MTU so a userspace delay line on two cores can carry hundreds of MiB/s. */
const MTU = 65000;

export interface Buffers {
  rmem: string;
  wmem: string;
}

export interface DelayedPair {
  rttMs: number;
  /** Command prefix that runs a program in the client or server namespace. */
  inClient: string[];
  inServer: string[];
  setBuffers(b: Buffers): Promise<void>;
  /** The delay line's counters (packets, drops, worst lateness, most bytes held), one line per direction. */
  lineStats(): Promise<string>;
  stop(): Promise<void>;
}

async function sysctlHost(key: string): Promise<string> {
  return (await runOk('sysctl', ['-n', key])).trim().replace(/\s+/g, ' ');
}

/** The host's own TCP buffer limits, for the "default buffers" runs. */
export async function hostBuffers(): Promise<Buffers> {
  return { rmem: await sysctlHost('net.ipv4.tcp_rmem'), wmem: await sysctlHost('net.ipv4.tcp_wmem') };
}

/** Sets namespace `ns`'s TCP buffer limits. */
async function setNsBuffers(ns: string, b: Buffers): Promise<void> {
  await runOk('nsenter', [`--net=/run/netns/${ns}`, 'sysctl', '-q', '-w', `net.ipv4.tcp_rmem=${b.rmem}`, `net.ipv4.tcp_wmem=${b.wmem}`]);
}

/** Buffers as tuned on data-transfer hosts: 64 MiB max. */
export const TUNED_BUFFERS: Buffers = { rmem: '4096 131072 67108864', wmem: '4096 16384 67108864' };

/**
 * Kills what still runs in a namespace, before it is deleted. After a run killed
 * mid-way (SIGKILL: no cleanup), sshd's per-connection process stays there in a
 * session of its own, blocked on a full send buffer towards a client that is gone,
 * for as long as TCP keeps retrying (~15 min); `ip netns del` alone would leave it.
 */
function killInNs(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout?.split(/\s+/).filter(Boolean) ?? [];
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function removeNs(name: string): Promise<void> {
  if (!existsSync(`/run/netns/${name}`)) return;
  killInNs(name);
  await run('ip', ['netns', 'del', name]);
}

/**
 * Makes namespaces `names` (any left by an earlier run removed first), each with `lo` up
 * and TCP congestion control `cc`, removed by the bench's cleanup or at exit unless the
 * returned `remove` is called first.
 */
async function makeNamespaces(names: string[], cc: string): Promise<{ remove(): Promise<void> }> {
  for (const ns of names) await removeNs(ns);
  const unregisterAsync = onCleanup(async () => {
    for (const ns of names) await removeNs(ns);
  });
  const unregisterSync = onExitSync(() => {
    for (const ns of names) {
      killInNs(ns);
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  });
  for (const ns of names) {
    await runOk('ip', ['netns', 'add', ns]);
    await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await runOk('nsenter', [`--net=/run/netns/${ns}`, 'sysctl', '-q', '-w', `net.ipv4.tcp_congestion_control=${cc}`]);
  }
  return {
    async remove(): Promise<void> {
      for (const ns of names) await removeNs(ns);
      unregisterAsync();
      unregisterSync();
    },
  };
}

/** The host's TCP congestion control (`bbr`, `cubic`, ...). */
export function hostCongestionControl(): Promise<string> {
  return sysctlHost('net.ipv4.tcp_congestion_control');
}

export const LOOPBACK_NS = 'burrowbench-l';

export interface LoopbackNs {
  /** Command prefix that runs a program in the namespace. */
  prefix: string[];
  /** The congestion control its sockets get, as the namespace's sysctl reads back. */
  cc: string;
  stop(): Promise<void>;
}

/**
 * A namespace with nothing but `lo`, whose TCP congestion control is `cc` (a sysctl of
 * its own: the host's stays as it is), and the host's buffer limits.
 */
export async function createLoopbackNs(cc: string): Promise<LoopbackNs> {
  const made = await makeNamespaces([LOOPBACK_NS], cc);
  const prefix = ['nsenter', `--net=/run/netns/${LOOPBACK_NS}`];
  try {
    await setNsBuffers(LOOPBACK_NS, await hostBuffers());
    const got = (await runOk(prefix[0] as string, [...prefix.slice(1), 'sysctl', '-n', 'net.ipv4.tcp_congestion_control'])).trim();
    return { prefix, cc: got, stop: () => made.remove() };
  } catch (err) {
    await made.remove();
    throw err;
  }
}

/**
 * The two namespaces joined by the delay line, their TCP congestion control `cc` (the
 * host's unless given; setting one the kernel lacks fails).
 */
export async function createDelayedPair(delayline: string, rttMs: number, cc?: string): Promise<DelayedPair> {
  const made = await makeNamespaces([CLIENT_NS, SERVER_NS], cc ?? (await hostCongestionControl()));
  const line = await startDaemon(delayline, [CLIENT_NS, SERVER_NS, IFNAME, String(Math.round((rttMs * 1000) / 2))], {
    ready: /ready/,
  });
  for (const [ns, local, peer] of [
    [CLIENT_NS, CLIENT_ADDR, SERVER_ADDR],
    [SERVER_NS, SERVER_ADDR, CLIENT_ADDR],
  ] as const) {
    await runOk('ip', ['-n', ns, 'link', 'set', IFNAME, 'mtu', String(MTU), 'txqueuelen', '10000', 'up']);
    await runOk('ip', ['-n', ns, 'addr', 'add', local, 'peer', peer, 'dev', IFNAME]);
  }
  const pair: DelayedPair = {
    rttMs,
    inClient: ['nsenter', `--net=/run/netns/${CLIENT_NS}`],
    inServer: ['nsenter', `--net=/run/netns/${SERVER_NS}`],
    async setBuffers(b: Buffers): Promise<void> {
      for (const ns of [CLIENT_NS, SERVER_NS]) await setNsBuffers(ns, b);
    },
    async lineStats(): Promise<string> {
      const before = line.stderr().length;
      line.child.kill('SIGUSR1');
      for (let i = 0; i < 50 && line.stderr().length === before; i++) await new Promise((r) => setTimeout(r, 10));
      return line.stderr().slice(before).trim();
    },
    async stop(): Promise<void> {
      await line.stop();
      await made.remove();
    },
  };
  await pair.setBuffers(await hostBuffers());
  return pair;
}
