/**
 * Waits for the CPUs to be idle before a measurement that a busy machine distorts most
 * (process starts), in case what ran just before the bench is still at work. Reads the
 * CPUs' idle share from `/proc/stat` once a second, until one second is at least
 * `IDLE_SHARE` idle or `MAX_WAIT_S` have passed; the measurement runs either way, and the
 * result says what the machine was like. Idle CPUs are not all: in session 42 node started
 * 25–40 ms slower for a while after `npm test` with the CPUs idle (bench/HISTORY.md).
 */
import { readFileSync } from 'node:fs';
import { sleep } from './proc.js';

/** A second this idle counts as quiet. */
export const IDLE_SHARE = 0.9;
const MAX_WAIT_S = 60;

function cpuTimes(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

export interface Quiet {
  /** The idle share of the last second looked at. */
  idleShare: number;
  /** Seconds waited for it. */
  waitedS: number;
}

export async function waitQuiet(): Promise<Quiet> {
  let before = cpuTimes();
  for (let s = 1; ; s++) {
    await sleep(1000);
    const now = cpuTimes();
    const idleShare = (now.idle - before.idle) / Math.max(1, now.total - before.total);
    before = now;
    if (idleShare >= IDLE_SHARE || s >= MAX_WAIT_S) return { idleShare, waitedS: s };
  }
}
