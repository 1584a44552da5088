/**
 * known_hosts files as OpenSSH reads and writes them (sshd(8) "SSH_KNOWN_HOSTS FILE
 * FORMAT"): one key per line, `[@marker] hosts keytype base64 [comment]`, `#` comments.
 * Lines that cannot be parsed are reported as problems and skipped, never fatal: one
 * bad line must not lock a user out of every host.
 */
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { keyTypeOf } from './keyblob.js';
import { hashHostName, hostFieldMatches, isHashedHostField, knownHostsName } from './patterns.js';

/** `@cert-authority` lines are parsed but never apply: burrow has no certificate support. */
export type KnownHostsMarker = 'cert-authority' | 'revoked';

export interface KnownHostEntry {
  file: string;
  /** 1-based, as `ssh-keygen -F` and OpenSSH's warnings count. */
  line: number;
  marker: KnownHostsMarker | undefined;
  /** The host field as written: a pattern list or one hashed name. */
  hosts: string;
  hashed: boolean;
  keyType: string;
  /** The decoded key blob (SSH wire format). */
  key: Buffer;
  comment: string;
}

export interface KnownHostsProblem {
  file: string;
  line: number;
  reason: string;
}

export interface KnownHostsFile {
  file: string;
  entries: KnownHostEntry[];
  problems: KnownHostsProblem[];
}

const MARKERS: Record<string, KnownHostsMarker> = { '@cert-authority': 'cert-authority', '@revoked': 'revoked' };
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses the text of a known_hosts file; `file` is only used to label entries. */
export function parseKnownHosts(text: string, file = '(known_hosts)'): KnownHostsFile {
  const out: KnownHostsFile = { file, entries: [], problems: [] };
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const parsed = parseLine(line);
    if (typeof parsed === 'string') out.problems.push({ file, line: i + 1, reason: parsed });
    else out.entries.push({ file, line: i + 1, ...parsed });
  });
  return out;
}

function parseLine(line: string): Omit<KnownHostEntry, 'file' | 'line'> | string {
  const fields = line.split(/[ \t]+/);
  let marker: KnownHostsMarker | undefined;
  if (fields[0]?.startsWith('@')) {
    marker = MARKERS[fields[0]];
    if (marker === undefined) return `unknown marker ${fields[0]}`;
    fields.shift();
  }
  const [hosts, keyType, b64, ...rest] = fields;
  if (hosts === undefined || keyType === undefined || b64 === undefined) return 'expected: hosts keytype base64-key';
  if (/^\d+$/.test(keyType)) return 'SSH protocol 1 (RSA1) keys are not supported';
  if (!BASE64.test(b64)) return 'the key is not valid base64';
  const key = Buffer.from(b64, 'base64');
  const blobType = keyTypeOf(key);
  if (blobType !== keyType) return `the key is not a ${keyType} key`;
  return { marker, hosts, hashed: isHashedHostField(hosts), keyType, key, comment: rest.join(' ') };
}

/** Reads and parses one file; a missing file (or missing directory) is an empty file. */
export async function readKnownHostsFile(file: string): Promise<KnownHostsFile> {
  try {
    return parseKnownHosts(await readFile(file, 'utf8'), file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { file, entries: [], problems: [] };
    throw e;
  }
}

/** The entries (in file order) whose host field covers host:port. */
export function matchEntries(entries: readonly KnownHostEntry[], host: string, port = 22): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((e) => hostFieldMatches(name, e.hosts));
}

/**
 * All entries for host:port across `files`, in order (files in the order given).
 * Unreadable files and bad lines go to `onProblem` and are otherwise ignored.
 *
 * @example
 * const found = await lookupKnownHosts(['/home/me/.ssh/known_hosts'], 'mahuika.nesi.org.nz', 22);
 * for (const e of found) console.log(`${e.file}:${e.line} ${e.keyType}`);
 */
export async function lookupKnownHosts(
  files: readonly string[],
  host: string,
  port = 22,
  onProblem?: (p: KnownHostsProblem) => void,
): Promise<KnownHostEntry[]> {
  const found: KnownHostEntry[] = [];
  for (const file of files) {
    let parsed: KnownHostsFile;
    try {
      parsed = await readKnownHostsFile(file);
    } catch (e) {
      onProblem?.({ file, line: 0, reason: `cannot read: ${(e as Error).message}` });
      continue;
    }
    parsed.problems.forEach((p) => onProblem?.(p));
    found.push(...matchEntries(parsed.entries, host, port));
  }
  return found;
}

export interface AppendOptions {
  /** Write the host name hashed, as `HashKnownHosts yes` does. Default: plain. */
  hash?: boolean;
}

/** The line OpenSSH would add for this key (without the newline). */
export function formatKnownHostsLine(host: string, port: number, key: Buffer, opts: AppendOptions = {}): string {
  const keyType = keyTypeOf(key);
  if (keyType === undefined) throw new TypeError('not an SSH public key blob');
  const name = knownHostsName(host, port);
  return `${opts.hash ? hashHostName(name) : name} ${keyType} ${key.toString('base64')}`;
}

/**
 * Appends an entry for host:port, creating the file (mode 0600) and its directory
 * (0700) when missing. Returns the line written.
 *
 * @example
 * await appendKnownHost('/home/me/.ssh/known_hosts', '127.0.0.1', 2222, keyBlob, { hash: true });
 */
export async function appendKnownHost(
  file: string,
  host: string,
  port: number,
  key: Buffer,
  opts: AppendOptions = {},
): Promise<string> {
  const line = formatKnownHostsLine(host, port, key, opts);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // A last line without its newline would otherwise swallow ours.
  const lead = (await endsWithoutNewline(file)) ? '\n' : '';
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.appendFile(`${lead}${line}\n`);
  } finally {
    await fh.close();
  }
  return line;
}

async function endsWithoutNewline(file: string): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => 0);
  if (size === 0) return false;
  const fh = await open(file, 'r');
  try {
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}
