/**
 * Runs the built `burrow` CLI as a user would (bin/burrow.js, with the node options of
 * its `#!` line), collecting output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/burrow.js', import.meta.url));

/** The node options on bin/burrow.js's `#!` line (`#!/usr/bin/env -S node --flag ...`). */
export const BIN_NODE_OPTIONS: string[] = (readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '').split(/\s+/).filter((a) => a.startsWith('--'));

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr contain `text` (rejects if the process exits first). */
  waitFor(text: string | RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ctrl-C, then SIGKILL if burrow has not exited within 10 s: cleanup never hangs a test. */
  stop(): Promise<void>;
}

/** `nodeArgs`: node's own options before the script (e.g. `--trace-gc`), after the `#!` line's. */
export function runBurrow(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; nodeArgs?: string[] } = {}): Running {
  const child = spawn(process.execPath, [...BIN_NODE_OPTIONS, ...(opts.nodeArgs ?? []), BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters) w();
  });
  child.stderr.on('data', (d) => {
    err += d;
    for (const w of waiters) w();
  });
  if (opts.input !== undefined) child.stdin.end(opts.input);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return {
    child,
    stop,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const all = out + err;
          const m = typeof text === 'string' ? (all.includes(text) ? text : undefined) : all.match(text)?.[0];
          if (m !== undefined) {
            waiters.delete(check);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`burrow exited (${child.exitCode ?? child.signalCode}) before printing ${text}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs to completion. */
export async function burrow(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = runBurrow(args, { input: '', ...opts });
  const { code } = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/** The local port of the first forward burrow printed (`127.0.0.1:PORT → ...`). */
export function listenPort(line: string): number {
  const m = /:(\d+) → /.exec(line);
  if (!m) throw new Error(`no port in ${line}`);
  return Number(m[1]);
}

/** Waits until burrow prints its first local forward and returns that port. */
export async function forwardPort(r: Running): Promise<number> {
  return listenPort(await r.waitFor(/127\.0\.0\.1:\d+ → /));
}

/** The events a `burrow --json` run has printed so far, one per stdout line. */
export function jsonEvents(r: Running): { type: string; kind?: string; listen?: string }[] {
  return r.stdout().trim().split('\n').map((l) => JSON.parse(l) as { type: string; kind?: string; listen?: string });
}

/** The local port of a `burrow --json` run's forward of this kind (`forward-listening`), or NaN. */
export function jsonListenPort(r: Running, kind: 'local' | 'dynamic'): number {
  const listen = jsonEvents(r).find((e) => e.type === 'forward-listening' && e.kind === kind)?.listen ?? '';
  return Number(/:(\d+)$/.exec(listen)?.[1]);
}
