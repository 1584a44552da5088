/**
 * Traffic cases, driven by the `tcpbench` helper so that the clients cost as little
 * CPU as possible and every bulk byte is checked by sha256.
 */
import { cpuSeconds, run } from '../lib/proc.js';

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

async function tcpbench(tool: string, t: Target, args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
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
  if (r.code !== 0) {
    throw new Error(`tcpbench ${args.join(' ')} via ${t.host}:${t.port} failed (exit ${r.code}): ${line} ${r.stderr.trim()}`);
  }
  return parsed;
}

/** One bulk transfer; fails unless the sha256 matched. Reports MiB/s and client CPU s/GiB. */
export async function bulk(tool: string, t: Target, dir: 'get' | 'put', bytes: number, pid: number | undefined): Promise<Metrics> {
  const cpu0 = pid === undefined ? 0 : cpuSeconds(pid);
  const r = await tcpbench(tool, t, [dir, String(bytes)], 300_000);
  const cpu1 = pid === undefined ? 0 : cpuSeconds(pid);
  if (r.ok !== true) throw new Error(`${dir} ${bytes} bytes via ${t.host}:${t.port}: sha256 mismatch`);
  const secs = Number(r.secs);
  const m: Metrics = { throughput: bytes / MiB / secs };
  if (pid !== undefined) m.cpu = (cpu1 - cpu0) / (bytes / GiB);
  return m;
}

/** Sequential new connections: connect, request, 1-byte answer (or server speaks first), close. */
export async function connLatency(tool: string, t: Target, mode: 'rr' | 'ssf', count: number): Promise<Metrics> {
  const r = await tcpbench(tool, t, [mode, String(count)], 300_000);
  if (r.fails !== 0) throw new Error(`${mode}: ${String(r.fails)} of ${count} connections failed`);
  return { latency: Number(r.median_ms) };
}

/** N concurrent downloads of `bytes` each; wall time in seconds, every stream checked. */
export async function concurrent(tool: string, t: Target, n: number, bytes: number): Promise<Metrics> {
  const r = await tcpbench(tool, t, ['conc', String(n), String(bytes)], 300_000);
  if (r.fails !== 0) throw new Error(`concurrent: ${String(r.fails)} of ${n} transfers failed or were corrupted`);
  return { wall: Number(r.secs) };
}
