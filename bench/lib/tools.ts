/**
 * The bench's C helpers (`bench/tools/*.c`), compiled once per source version into
 * a directory under the system temp dir.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOk } from './proc.js';

const toolsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'tools');

export interface Tools {
  tcpbench: string;
  delayline: string;
}

async function build(name: string, libs: string[]): Promise<string> {
  const src = join(toolsDir, `${name}.c`);
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `burrowbench-tools-${hash}`);
  const out = join(dir, name);
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    await runOk('gcc', ['-O2', '-Wall', '-o', out, src, ...libs]);
  }
  return out;
}

/** Compiles (or reuses) the helpers; needs gcc and libssl-dev. */
export async function buildTools(): Promise<Tools> {
  return {
    tcpbench: await build('tcpbench', ['-lcrypto', '-lpthread']),
    delayline: await build('delayline', ['-lpthread']),
  };
}
