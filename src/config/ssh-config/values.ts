/**
 * Value parsers for the keywords burrow implements, with OpenSSH's accepted
 * spellings (readconf.c multistate tables, `convtime`, `a2port`).
 */
import { BurrowError } from '../../errors.js';
import type { AddressFamily, StrictHostKeyChecking } from '../types.js';

/** Where a line came from: a file and line number (0: the file as a whole), or `-o`. */
export interface Origin {
  file: string;
  line: number;
}

export const COMMAND_LINE = 'command-line';

export function where(o: Origin): string {
  if (o.file === COMMAND_LINE) return '-o option';
  return o.line > 0 ? `${o.file}:${o.line}` : o.file;
}

/** A `CONFIG` error naming the file and line. */
export function configError(o: Origin, message: string, cause?: unknown): BurrowError {
  return new BurrowError('CONFIG', `${where(o)}: ${message}`, {
    phase: 'config',
    cause,
    details: { file: o.file, line: o.line },
  });
}

function multistate<T>(o: Origin, key: string, arg: string, table: Record<string, T>): T {
  const v = table[arg.toLowerCase()];
  if (v === undefined) {
    const allowed = Object.keys(table).join(', ');
    throw configError(o, `${key} does not accept '${arg}'; use one of ${allowed}`);
  }
  return v;
}

export function parseFlag(o: Origin, key: string, arg: string): boolean {
  return multistate(o, key, arg, { yes: true, no: false, true: true, false: false });
}

export function parseStrictHostKeyChecking(o: Origin, arg: string): StrictHostKeyChecking {
  return multistate<StrictHostKeyChecking>(o, 'StrictHostKeyChecking', arg, {
    yes: 'yes',
    no: 'no',
    ask: 'ask',
    'accept-new': 'accept-new',
    true: 'yes',
    false: 'no',
    off: 'no',
  });
}

export function parseAddressFamily(o: Origin, arg: string): AddressFamily {
  return multistate<AddressFamily>(o, 'AddressFamily', arg, { any: 'any', inet: 'inet', inet6: 'inet6' });
}

/** A port 1-65535, or undefined when `s` is not one (`a2port`, without service names). */
export function toPort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

export function parsePort(o: Origin, arg: string): number {
  const p = toPort(arg);
  if (p === undefined) throw configError(o, `bad port '${arg}'; use a number from 1 to 65535`);
  return p;
}

export function parseCount(o: Origin, key: string, arg: string): number {
  if (!/^\d+$/.test(arg) || Number(arg) > 2 ** 31 - 1) {
    throw configError(o, `${key} '${arg}' is not a non-negative integer`);
  }
  return Number(arg);
}

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** OpenSSH `convtime`: `300`, `5m`, `1h30m`; undefined when malformed. */
export function convtime(s: string): number | undefined {
  if (s === '') return undefined;
  let total = 0;
  const re = /(\d+)([sSmMhHdDwW]?)/y;
  let i = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
    i = re.lastIndex;
  }
  return total > 2 ** 31 - 1 ? undefined : total;
}

/** Seconds, or null for `none` (ConnectTimeout / ServerAliveInterval syntax). */
export function parseTime(o: Origin, key: string, arg: string): number | null {
  if (arg === 'none') return null;
  const t = convtime(arg);
  if (t === undefined) throw configError(o, `${key} '${arg}' is not a time; use seconds or e.g. 5m, 1h30m`);
  return t;
}
