/**
 * Start-up cost: `burrow --help` against an empty `node -e ''` and `ssh -V`.
 */
import { run } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { BURROW_CLI } from '../peers/index.js';

async function timeOnce(cmd: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await run(cmd, args, { timeoutMs: 30_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  return ms;
}

export interface ColdStart {
  burrowHelpMs: number;
  nodeEmptyMs: number;
  sshVersionMs: number;
}

export async function coldStart(reps: number): Promise<ColdStart> {
  const b: number[] = [];
  const n: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < reps; i++) {
    n.push(await timeOnce(process.execPath, ['-e', '']));
    b.push(await timeOnce(BURROW_CLI[0] as string, [...BURROW_CLI.slice(1), '--help']));
    s.push(await timeOnce('ssh', ['-V']));
  }
  return { burrowHelpMs: median(b), nodeEmptyMs: median(n), sshVersionMs: median(s) };
}
