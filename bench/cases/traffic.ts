/**
 * Traffic cases, driven by the `tcpbench` helper so that the clients cost as little
 * CPU as possible and every bulk byte is checked by sha256.
 */
import { rssMB, run, treeCpuSeconds } from '../lib/proc.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface Target {
  /** Command prefix for the client side (namespace). */
  prefix: string[];
  host: string;
  port: number;
  /** Extra environment, e.g. TCPBENCH_SOCKS for -D. */
  env?: Record<string, string>;
}

export type Metrics = Record<string, number>;

async function tcpbench(
  tool: string,
  t: Target,
  args: string[],
  timeoutMs: number,
  failedOk = false,
): Promise<Record<string, unknown>> {
  const argv = [...t.prefix, tool, args[0] as string, t.host, String(t.port), ...args.slice(1)];
  const r = await run(argv[0] as string, argv.slice(1), {
    timeoutMs,
    env: { ...process.env, ...(t.env ?? {}) },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  if (r.code !== 0 && !(failedOk && r.code === 1 && typeof parsed.fails === 'number')) {
    throw new Error(`tcpbench ${args.join(' ')} via ${t.host}:${t.port} failed (exit ${r.code}): ${line} ${r.stderr.trim()}`);
  }
  return parsed;
}

/**
 * One bulk transfer; fails unless the sha256 matched. Reports MiB/s and client CPU s/GiB
 * (the forwarder and its children: OpenSSH's `-J` hop is a child process).
 */
export async function bulk(tool: string, t: Target, dir: 'get' | 'put', bytes: number, pid: number | undefined): Promise<Metrics> {
  const cpu0 = pid === undefined ? 0 : treeCpuSeconds(pid);
  const r = await tcpbench(tool, t, [dir, String(bytes)], 300_000);
  const cpu1 = pid === undefined ? 0 : treeCpuSeconds(pid);
  if (r.ok !== true) throw new Error(`${dir} ${bytes} bytes via ${t.host}:${t.port}: sha256 mismatch`);
  const secs = Number(r.secs);
  const m: Metrics = { throughput: bytes / MiB / secs };
  if (pid !== undefined) m.cpu = (cpu1 - cpu0) / (bytes / GiB);
  return m;
}

/**
 * Sequential new connections: connect, request, 1-byte answer (or server speaks first),
 * close. With `pid`, also the forwarder's CPU per connection in ms (every thread, its
 * children too): on two shared cores that CPU is a good part of the latency.
 */
export async function connLatency(tool: string, t: Target, mode: 'rr' | 'ssf', count: number, pid?: number): Promise<Metrics> {
  const cpu0 = pid === undefined ? 0 : treeCpuSeconds(pid);
  const r = await tcpbench(tool, t, [mode, String(count)], 300_000);
  const cpu1 = pid === undefined ? 0 : treeCpuSeconds(pid);
  if (r.fails !== 0) throw new Error(`${mode}: ${String(r.fails)} of ${count} connections failed`);
  const m: Metrics = { latency: Number(r.median_ms) };
  if (pid !== undefined) m.cpuConn = ((cpu1 - cpu0) * 1000) / count;
  return m;
}

/**
 * N concurrent downloads (`cput`: uploads) of `bytes` each: wall time in seconds, the
 * streams that failed or arrived corrupted (`errors`, a figure with a target of 0, so it
 * is reported rather than thrown), and the forwarder's peak RSS during the case, sampled
 * every 20 ms (VmHWM cannot be reset and would include the bulk cases run before on the
 * same process).
 */
export async function concurrent(tool: string, t: Target, n: number, bytes: number, pid?: number, mode: 'conc' | 'cput' = 'conc'): Promise<Metrics> {
  let peak = pid === undefined ? 0 : rssMB(pid);
  const timer = pid === undefined ? undefined : setInterval(() => (peak = Math.max(peak, rssMB(pid))), 20);
  try {
    const r = await tcpbench(tool, t, [mode, String(n), String(bytes)], 600_000, true);
    const m: Metrics = { wall: Number(r.secs), errors: Number(r.fails) };
    if (pid !== undefined) m.rss = peak;
    return m;
  } finally {
    clearInterval(timer);
  }
}

/**
 * A reader that stops: it downloads `bytes` but reads nothing for `secs` seconds after
 * the first MiB, while the server keeps sending. `held` (MiB) is how much more the
 * server got to send than was read: every buffer on the path (sockets, the forwarder,
 * sshd), to 256 KiB. Raw TCP shows the kernel's share; a forwarder that respects flow
 * control adds about one channel window, one that does not holds all of `bytes`. Then
 * the rest is read and checked by sha256 (the stall may lose or reorder nothing).
 */
export async function stalled(tool: string, t: Target, bytes: number, secs: number): Promise<Metrics> {
  const r = await tcpbench(tool, t, ['stall', String(bytes), String(secs)], 300_000);
  if (r.ok !== true) throw new Error(`stalled reader via ${t.host}:${t.port}: sha256 mismatch after the stall`);
  return { held: Number(r.held) / MiB };
}
