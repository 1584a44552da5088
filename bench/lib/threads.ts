/**
 * Where a process's CPU, wakeups and page faults went over an interval, per thread
 * (`/proc/PID/task/*`): the main thread (the event loop) apart from V8's helpers (GC,
 * compilers), plus minor faults and RSS. CPU is the scheduler's count (`schedstat`), as
 * in the bench's per-transfer figures (`cpuSeconds`). Linux only; an ended process reads
 * as empty.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { procCounters, rssMB, runSeconds, type ProcCounters } from './proc.js';

/** Per thread: its counters, the seconds it has run, and its name. */
export type ProcessSample = Map<string, ProcCounters & { run: number; name: string }>;

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
      const dir = `/proc/${pid}/task/${tid}`;
      out.set(tid, { ...procCounters(dir), run: runSeconds(dir), name: readFileSync(`${dir}/comm`, 'utf8').trim() });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/**
 * e.g. `main 1.76 CPU-s/GiB 20560 cs/GiB, other threads 0.40 CPU-s/GiB 880 cs/GiB (node 0.40),
 * 320 minor faults/GiB, RSS 97 MiB`: the other threads by name (`comm`; Node 20 names V8's
 * workers `node`) where they spent anything.
 */
export function describeThreads(pid: number | undefined, before: ProcessSample, after: ProcessSample, bytes: number): string {
  if (pid === undefined || after.size === 0) return '';
  const gib = bytes / 2 ** 30;
  const sum = { main: { cpu: 0, switches: 0 }, other: { cpu: 0, switches: 0 } };
  let faults = 0;
  const byName = new Map<string, number>();
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { run: 0, switches: 0, minorFaults: 0 };
    const into = tid === String(pid) ? sum.main : sum.other;
    const cpu = a.run - b.run;
    into.cpu += cpu;
    into.switches += a.switches - b.switches;
    if (into === sum.other) byName.set(a.name, (byName.get(a.name) ?? 0) + cpu);
    faults += a.minorFaults - b.minorFaults;
  }
  const part = (name: string, s: { cpu: number; switches: number }): string =>
    `${name} ${(s.cpu / gib).toFixed(2)} CPU-s/GiB ${Math.round(s.switches / gib)} cs/GiB`;
  const names = [...byName].filter(([, cpu]) => cpu > 0).map(([name, cpu]) => `${name} ${(cpu / gib).toFixed(2)}`);
  const others = part('other threads', sum.other) + (names.length ? ` (${names.join(', ')})` : '');
  const mb = rssMB(pid); // 0: the process ended
  const rss = mb ? `, RSS ${Math.round(mb)} MiB` : '';
  return `${part('main', sum.main)}, ${others}, ${Math.round(faults / gib)} minor faults/GiB${rss}`;
}
