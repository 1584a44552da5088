import { readFileSync } from 'node:fs';

/** Resident memory of a process (VmRSS), in MiB. */
export function rssMiB(pid: number | 'self' = 'self'): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}
