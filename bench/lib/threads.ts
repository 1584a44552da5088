/**
 * Where a process's CPU, wakeups and page faults went over an interval, per thread
 * (`/proc/PID/task/*`): the main thread (the event loop) apart from V8's helpers (GC,
 * compilers), plus minor faults and RSS. Linux only; an ended process reads as empty.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ThreadSample {
  /** utime + stime, clock ticks (1/100 s). */
  ticks: number;
  /** Voluntary + involuntary context switches. */
  switches: number;
  minorFaults: number;
}

export type ProcessSample = Map<string, ThreadSample>;

export function sampleThreads(pid: number | undefined): ProcessSample {
  const out: ProcessSample = new Map();
  if (pid === undefined) return out;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const switches = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      out.set(tid, { ticks: Number(f[11]) + Number(f[12]), switches, minorFaults: Number(f[7]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** e.g. `main 1.76 CPU-s/GiB 20560 cs/GiB, other threads 0.40 CPU-s/GiB 880 cs/GiB, 320 minor faults/GiB, RSS 97 MiB` */
export function describeThreads(pid: number | undefined, before: ProcessSample, after: ProcessSample, bytes: number): string {
  if (pid === undefined || after.size === 0) return '';
  const gib = bytes / 2 ** 30;
  const sum = { main: { ticks: 0, switches: 0 }, other: { ticks: 0, switches: 0 } };
  let faults = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { ticks: 0, switches: 0, minorFaults: 0 };
    const into = tid === String(pid) ? sum.main : sum.other;
    into.ticks += a.ticks - b.ticks;
    into.switches += a.switches - b.switches;
    faults += a.minorFaults - b.minorFaults;
  }
  const part = (name: string, s: { ticks: number; switches: number }): string =>
    `${name} ${(s.ticks / 100 / gib).toFixed(2)} CPU-s/GiB ${Math.round(s.switches / gib)} cs/GiB`;
  let rss = '';
  try {
    rss = `, RSS ${Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024)} MiB`;
  } catch {
    // the process ended
  }
  return `${part('main', sum.main)}, ${part('other threads', sum.other)}, ${Math.round(faults / gib)} minor faults/GiB${rss}`;
}
