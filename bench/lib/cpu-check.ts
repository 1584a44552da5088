/**
 * How fast each CPU of this machine is right now, for the cipher the bench runs and for
 * a hash: `openssl speed` pinned to one CPU at a time (`taskset`). On the VMs here one
 * vCPU has been seen running AES-128-GCM 36 % slower than the other for a while (4.65
 * against 2.97 GB/s, 2026-12-04 23:57) while SHA-256 and ChaCha20 were alike on both, and
 * alike again minutes later: another tenant on the host, most likely. A process that
 * lands on such a CPU pays for it, and that moves a run's ratios; the run records the
 * check at its start and end, and warns.
 */
import { cpus } from 'node:os';
import { run } from './proc.js';

export interface CpuSpeed {
  cpu: number;
  /** MB/s (10^6), 16 KiB blocks. */
  aes128gcm: number;
  sha256: number;
}

async function speed(cpu: number, alg: string, seconds: number): Promise<number> {
  const r = await run('taskset', ['-c', String(cpu), 'openssl', 'speed', '-evp', alg, '-seconds', String(seconds), '-bytes', '16384'], {
    timeoutMs: (seconds + 20) * 1000,
  });
  // The last line: "<name>  <k bytes per second>k"
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const k = Number(/([\d.]+)k\s*$/.exec(last)?.[1]);
  if (r.code !== 0 || !Number.isFinite(k)) throw new Error(`openssl speed ${alg} on CPU ${cpu}: ${r.stderr.trim() || last}`);
  return Math.round(k / 1000);
}

/** Each CPU's speed, or undefined when `openssl` or `taskset` is missing (the bench goes on). */
export async function checkCpus(seconds = 1): Promise<CpuSpeed[] | undefined> {
  try {
    const out: CpuSpeed[] = [];
    for (let cpu = 0; cpu < cpus().length; cpu++) {
      out.push({ cpu, aes128gcm: await speed(cpu, 'aes-128-gcm', seconds), sha256: await speed(cpu, 'sha256', seconds) });
    }
    return out;
  } catch (err) {
    console.warn(`cpu check skipped: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** One line for the terminal; a warning when the CPUs' AES speeds differ by more than 15 %. */
export function describeCpus(when: string, speeds: CpuSpeed[] | undefined): string {
  if (speeds === undefined || speeds.length === 0) return `cpu check (${when}): not available`;
  const aes = speeds.map((s) => s.aes128gcm);
  const line = `cpu check (${when}): AES-128-GCM ${aes.join(' / ')} MB/s, SHA-256 ${speeds.map((s) => s.sha256).join(' / ')} MB/s per CPU`;
  const spread = 1 - Math.min(...aes) / Math.max(...aes);
  return spread > 0.15 ? `${line}\nwarning: one CPU runs AES ${(spread * 100).toFixed(0)} % slower than another: the processes that land on it pay for it, and this run's ratios move with that` : line;
}
