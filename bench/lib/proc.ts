/**
 * Child processes and cleanup for the bench: every process, namespace and
 * temporary directory the bench creates registers a cleanup here, and the
 * cleanups run on normal exit, on failure and on SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | undefined;

/** Registers `fn` to run (last registered first) when the bench ends. */
export function onCleanup(fn: Cleanup): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs every registered cleanup once; safe to call repeatedly. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn?.();
      } catch (err) {
        console.error('bench cleanup:', err instanceof Error ? err.message : err);
      }
    }
  })();
  return cleaning;
}

const livePids = new Set<number>();
const exitHooks = new Set<() => void>();

/** A synchronous last resort for when the bench dies without running its cleanups. */
export function onExitSync(fn: () => void): () => void {
  exitHooks.add(fn);
  return () => exitHooks.delete(fn);
}

process.on('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const fn of exitHooks) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
});

function trackPid(cp: ChildProcess): void {
  const pid = cp.pid;
  if (pid === undefined) return;
  livePids.add(pid);
  cp.once('exit', () => livePids.delete(pid));
}

/** Makes Ctrl-C and SIGTERM tear everything down before exiting. */
export function installSignalHandlers(): void {
  process.once('uncaughtException', (err) => {
    console.error('bench: uncaught', err);
    void cleanupAll().finally(() => process.exit(1));
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\nbench: ${sig}, cleaning up`);
      void cleanupAll().finally(() => {
        process.exitCode = 130;
        process.exit();
      });
    });
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and collects its output. */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const { timeoutMs, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const cp = spawn(cmd, args, { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    trackPid(cp);
    const unregister = onCleanup(() => stopProcess(cp));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => cp.kill('SIGKILL'), timeoutMs);
    const kill = (): void => {
      if (timer) clearTimeout(timer);
      unregister();
    };
    let stdout = '';
    let stderr = '';
    cp.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    cp.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    cp.on('error', (err) => {
      kill();
      reject(err);
    });
    cp.on('close', (code) => {
      kill();
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command and fails with its stderr unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

export interface Daemon {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything written to stderr so far (for error messages). */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running process. Resolves once `ready` matches a line of its
 * stdout or stderr (or at once without `ready`).
 */
export function startDaemon(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { ready?: RegExp; timeoutMs?: number } = {},
): Promise<Daemon> {
  const { ready, timeoutMs = 15_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const cp = spawn(cmd, args, { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    trackPid(cp);
    let out = '';
    let err = '';
    let settled = false;
    const daemon: Daemon = {
      pid: cp.pid ?? -1,
      child: cp,
      stderr: () => err,
      stop: () => stopProcess(cp),
    };
    const unregister = onCleanup(() => stopProcess(cp));
    const timer = setTimeout(() => fail(new Error(`${cmd} not ready after ${timeoutMs} ms: ${err.trim()}`)), timeoutMs);
    const check = (): void => {
      if (!settled && ready && (ready.test(out) || ready.test(err))) {
        settled = true;
        clearTimeout(timer);
        resolve(daemon);
      }
    };
    function fail(e: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stopProcess(cp).finally(() => reject(e));
    }
    cp.stdout?.on('data', (d: Buffer) => {
      if (out.length < 65536) out += d.toString();
      check();
    });
    cp.stderr?.on('data', (d: Buffer) => {
      if (err.length < 65536) err += d.toString();
      check();
    });
    cp.on('error', (e) => fail(e));
    cp.on('exit', (code, sig) => {
      unregister();
      fail(new Error(`${cmd} ${args.join(' ')} exited early (${code ?? sig}): ${err.trim()}`));
    });
    if (!ready) {
      settled = true;
      clearTimeout(timer);
      resolve(daemon);
    }
  });
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export function stopProcess(cp: ChildProcess, graceMs = 2000): Promise<void> {
  if (cp.exitCode !== null || cp.signalCode !== null || cp.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => cp.kill('SIGKILL'), graceMs);
    cp.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    cp.kill('SIGTERM');
  });
}

const CLK_TCK = 100;

/** The fields of `DIR/stat` after the parenthesised command name (DIR: /proc/PID or /proc/PID/task/TID). */
function statFields(dir: string): string[] {
  const stat = readFileSync(`${dir}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds a process has run so far, all its live threads: the scheduler's own count
 * (`/proc/PID/task/TID/schedstat`, nanoseconds). utime+stime (`/proc/PID/stat`) moves in
 * 10 ms steps, ~5 % of a 128 MiB transfer at 50 ms RTT (0.15–0.2 CPU-s): two readings of
 * the same transfer could differ by a step. Where schedstat is missing, utime+stime.
 */
export function cpuSeconds(pid: number): number {
  let sum = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) sum += runSeconds(`/proc/${pid}/task/${tid}`);
  } catch {
    sum = Number.NaN;
  }
  if (Number.isFinite(sum)) return sum;
  // utime and stime are fields 14 and 15.
  const fields = statFields(`/proc/${pid}`);
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Seconds one thread (DIR: /proc/PID/task/TID) has run: the scheduler's count, `schedstat`. Throws if it is gone. */
export function runSeconds(dir: string): number {
  return Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

/**
 * CPU seconds of a process and every live descendant: OpenSSH's `-J` runs the jump
 * hop as a child `ssh -W`, whose work is part of the forwarding. Children that exit in
 * between are not counted: read it while the forwarder stays up.
 */
export function treeCpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(statFields(`/proc/${d}`)[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  let sum = 0;
  const todo = [pid];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    try {
      sum += cpuSeconds(next);
    } catch {
      // gone meanwhile
    }
    todo.push(...(children.get(next) ?? []));
  }
  return sum;
}

export interface ProcCounters {
  /** User and system CPU, seconds. */
  user: number;
  sys: number;
  minorFaults: number;
  /** Voluntary + involuntary context switches. */
  switches: number;
}

/** CPU, minor faults and context switches so far of a process (/proc/PID) or one of its threads (/proc/PID/task/TID). */
export function procCounters(dir: string): ProcCounters {
  const f = statFields(dir);
  const status = readFileSync(`${dir}/status`, 'utf8');
  const switches = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK, minorFaults: Number(f[7]), switches };
}

/**
 * User + system CPU seconds so far of every live process named `comm` (e.g. all sshd
 * processes: the bench's daemon and its per-connection children). Processes that exit
 * in between are not counted: compare readings taken while a connection stays up.
 */
export function commCpuSeconds(comm: string): number {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== comm) continue;
      sum += cpuSeconds(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** Resident set size of `pid` in MB (0 once it is gone). */
export function rssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
