/**
 * Start-up cost: `burrow --help` against an empty `node -e ''` and `ssh -V`, in the
 * environment the bench was given. If that environment sets `NODE_EXTRA_CA_CERTS`, both
 * node figures are also taken without it: node reads and parses that file when it
 * starts, whatever it runs (~40 ms on the machine of session 42), which no user without
 * the variable pays. The timing starts once the machine is quiet (`lib/quiet.ts`).
 *
 * A full run takes several windows of interleaved starts, spread over the run, and reports
 * the median of their medians (`combineWindows`): on the machine of session 43, node's own
 * start went from ~110 to ~150 ms for 20–30 s at a time, with the CPUs 95 % idle and no
 * steal time reported (bench/HISTORY.md), and a single window that fell into such a
 * spell decided the figure of a whole run. Each window is kept in the result; the
 * combined figure's `quiet` is the first window's.
 */
import { run } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { BURROW_CLI } from '../peers/index.js';
import { waitQuiet, type Quiet } from '../lib/quiet.js';

async function timeOnce(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await run(cmd, args, { timeoutMs: 30_000, env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  return ms;
}

export interface ColdStart {
  /** When this window started (ISO time). */
  at?: string;
  burrowHelpMs: number;
  nodeEmptyMs: number;
  sshVersionMs: number;
  /** The same two node figures without the environment's `NODE_EXTRA_CA_CERTS`, if it sets one. */
  withoutExtraCaCerts?: { burrowHelpMs: number; nodeEmptyMs: number };
  /** How quiet the machine was when the timing started (`lib/quiet.ts`). */
  quiet: Quiet;
}

export async function coldStart(reps: number): Promise<ColdStart> {
  const { NODE_EXTRA_CA_CERTS: extraCa, ...bare } = process.env;
  const b: number[] = [];
  const n: number[] = [];
  const s: number[] = [];
  const bBare: number[] = [];
  const nBare: number[] = [];
  const quiet = await waitQuiet();
  const at = new Date().toISOString();
  const help = (env?: NodeJS.ProcessEnv): Promise<number> =>
    timeOnce(BURROW_CLI[0] as string, [...BURROW_CLI.slice(1), '--help'], env);
  for (let i = 0; i < reps; i++) {
    n.push(await timeOnce(process.execPath, ['-e', '']));
    b.push(await help());
    s.push(await timeOnce('ssh', ['-V']));
    if (extraCa === undefined) continue;
    nBare.push(await timeOnce(process.execPath, ['-e', ''], bare));
    bBare.push(await help(bare));
  }
  return {
    at,
    burrowHelpMs: median(b),
    nodeEmptyMs: median(n),
    sshVersionMs: median(s),
    quiet,
    ...(extraCa === undefined ? {} : { withoutExtraCaCerts: { burrowHelpMs: median(bBare), nodeEmptyMs: median(nBare) } }),
  };
}

/** Several windows as one figure: each field the median of the windows' medians. */
export interface ColdStarts extends ColdStart {
  windows: ColdStart[];
}

export function combineWindows(windows: ColdStart[]): ColdStarts | undefined {
  const first = windows[0];
  if (!first) return undefined;
  const of = (f: (w: ColdStart) => number | undefined): number => median(windows.map(f).filter((x): x is number => x !== undefined));
  const bare = windows.every((w) => w.withoutExtraCaCerts !== undefined);
  return {
    burrowHelpMs: of((w) => w.burrowHelpMs),
    nodeEmptyMs: of((w) => w.nodeEmptyMs),
    sshVersionMs: of((w) => w.sshVersionMs),
    quiet: first.quiet,
    ...(bare ? { withoutExtraCaCerts: { burrowHelpMs: of((w) => w.withoutExtraCaCerts?.burrowHelpMs), nodeEmptyMs: of((w) => w.withoutExtraCaCerts?.nodeEmptyMs) } } : {}),
    windows,
  };
}
