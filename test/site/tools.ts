// How the site tests spell the burrow CLI inside the laptop node (shared by workflows and
// faults): `node bin/burrow.js` with its #! line's node options when dist/ is built and up
// to date, else the CLI from src/ through tsx (burrow-cli.ts; force with
// BURROW_SITE_CLI=src). Paths are the repository as the laptop node sees it (REPO_IN_LAPTOP).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_NODE_OPTIONS } from '../helpers/cli.js';
import { REPO_IN_LAPTOP, REPO_ROOT as ROOT } from './site.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export function burrowCommand(): string[] {
  const dist = join(ROOT, 'dist', 'cli', 'main.js');
  const R = REPO_IN_LAPTOP;
  if (process.env.BURROW_SITE_CLI !== 'src' && existsSync(dist) && statSync(dist).mtimeMs >= newestMtime(join(ROOT, 'src'))) {
    return ['node', ...BIN_NODE_OPTIONS, join(R, 'bin', 'burrow.js')];
  }
  return ['node', '--import', `file://${join(R, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`, join(R, 'test', 'site', 'burrow-cli.ts')];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const count = (text: string, needle: string): number => text.split(needle).length - 1;

export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, diag?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await sleep(50);
  }
}
