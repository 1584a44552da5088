// Process helpers for the namespace test site: run a command, identify processes by
// pid + start time (PIDs wrap), find every process inside a network namespace, end
// processes by PID only (never by name).
import { spawn, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a program to completion, collecting its output. Never throws for a non-zero exit. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const so: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env };
    if (opts.cwd) so.cwd = opts.cwd;
    const child = spawn(file, [...args], so);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[sig];
}

/** Runs a program and throws with its output when it exits non-zero. */
export async function must(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** A process identity that survives PID reuse: the PID plus its start time in clock ticks. */
export interface ProcId {
  pid: number;
  start: string;
}

interface Stat {
  state: string;
  start: string;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields after the last ')' are fixed.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] = state (field 3), start time is field 22 → rest[19]
    return { state: rest[0] ?? '?', start: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function procId(pid: number): ProcId | undefined {
  const st = readStat(pid);
  return st ? { pid, start: st.start } : undefined;
}

/** True while the process exists with the same start time and is not a zombie. */
export function isAlive(id: ProcId): boolean {
  const st = readStat(id.pid);
  return st !== undefined && st.start === id.start && st.state !== 'Z' && st.state !== 'X';
}

/** Sends a signal only if the PID still names the same process. */
export function signalProc(id: ProcId, sig: NodeJS.Signals): boolean {
  if (!isAlive(id)) return false;
  try {
    process.kill(id.pid, sig);
    return true;
  } catch {
    return false;
  }
}

export async function waitGone(ids: readonly ProcId[], timeoutMs: number): Promise<ProcId[]> {
  const deadline = Date.now() + timeoutMs;
  let left = ids.filter(isAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = left.filter(isAlive);
  }
  return left;
}

/** Ends processes: SIGTERM, a grace period, then SIGKILL. */
export async function endProcs(ids: readonly ProcId[], graceMs = 300): Promise<ProcId[]> {
  for (const id of ids) signalProc(id, 'SIGTERM');
  let left = await waitGone(ids, graceMs);
  for (const id of left) signalProc(id, 'SIGKILL');
  left = await waitGone(left, 2000);
  return left;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Inode of a namespace file, e.g. /run/netns/burrow-laptop or /proc/PID/ns/net. */
export function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function nsLinkInode(pid: number, kind: string): number | undefined {
  try {
    const l = readlinkSync(`/proc/${pid}/ns/${kind}`); // e.g. net:[4026532281]
    const m = /\[(\d+)\]/.exec(l);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Every live process whose network namespace is one of `netInodes` (like `ip netns pids`). */
export function procsInNetns(netInodes: ReadonlySet<number>): ProcId[] {
  const found: ProcId[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const ino = nsLinkInode(pid, 'net');
    if (ino === undefined || !netInodes.has(ino)) continue;
    const id = procId(pid);
    if (id && isAlive(id)) found.push(id);
  }
  return found;
}

export function nsOf(pid: number, kind: 'net' | 'mnt' | 'uts'): number | undefined {
  return nsLinkInode(pid, kind);
}
