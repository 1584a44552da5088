/**
 * The small part of glob(3) that `Include` needs: `*`, `?` and `[...]` in any path
 * segment, no match for a leading dot unless written, results sorted.
 */
import { readdir, stat } from 'node:fs/promises';

const MAGIC = /[*?[]/;

function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Files matching an absolute pattern, sorted; [] when none. */
export async function globFiles(pattern: string): Promise<string[]> {
  const segs = pattern.split('/').filter((s, i) => s !== '' || i === 0);
  let dirs = [segs[0] === '' ? '' : segs[0] as string];
  for (const seg of segs.slice(1)) {
    const next: string[] = [];
    for (const d of dirs) {
      if (!MAGIC.test(seg)) {
        next.push(`${d}/${seg}`);
        continue;
      }
      const re = segmentRegExp(seg);
      let names: string[];
      try {
        names = await readdir(d === '' ? '/' : d);
      } catch {
        continue;
      }
      for (const n of names) if (re.test(n) && (!n.startsWith('.') || seg.startsWith('.'))) next.push(`${d}/${n}`);
    }
    dirs = next;
  }
  const files: string[] = [];
  for (const p of dirs) if (await isFile(p)) files.push(p);
  return files.sort();
}
