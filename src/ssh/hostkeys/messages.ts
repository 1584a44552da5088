/**
 * The words of host-key decisions, close to OpenSSH's so that users (and the web pages
 * they search) recognise them, plus what to do next.
 */
import { BurrowError } from '../../errors.js';
import type { KnownHostEntry } from './known-hosts.js';
import { displayKeyType } from './keyblob.js';
import { knownHostsName } from './patterns.js';

/** What the verifier knows about the key it was shown. */
export interface Presented {
  /** The known_hosts name: `host` or `[host]:port`. */
  name: string;
  /** The name and port the key is filed under (the HostKeyAlias and 22 when one is set). */
  host: string;
  port: number;
  /** Where the server really is, for `ssh-keyscan` advice. */
  scanHost: string;
  scanPort: number;
  keyType: string;
  fingerprint: string;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function keyscan(p: Presented, file: string | undefined): string {
  const type = displayKeyType(p.keyType).toLowerCase();
  const port = p.scanPort === 22 ? '' : ` -p ${p.scanPort}`;
  // ssh-keyscan names the line after the address it scanned; an alias must replace it.
  const rename = p.name === knownHostsName(p.scanHost, p.scanPort) ? '' : ` | sed 's/^[^ ]*/${p.name}/'`;
  return `ssh-keyscan -t ${type}${port} ${p.scanHost}${rename} >> ${file ?? '~/.ssh/known_hosts'}`;
}

function where(e: KnownHostEntry): string {
  return `${e.file}:${e.line}`;
}

function details(p: Presented, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: p.name, keyType: p.keyType, fingerprint: p.fingerprint, ...extra };
}

export function mismatchError(p: Presented, offending: KnownHostEntry): BurrowError {
  const type = displayKeyType(p.keyType);
  const message = [
    `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${p.name}!`,
    'Someone could be eavesdropping on you right now (man-in-the-middle attack),',
    'or the host key has just been changed.',
    `The fingerprint for the ${type} key sent by the remote host is`,
    `${p.fingerprint}.`,
    `Offending ${type} key in ${where(offending)}`,
    'If the cluster\'s administrators confirm the new key, remove the old one with:',
    `  ssh-keygen -f ${shellQuote(offending.file)} -R ${shellQuote(p.name)}`,
    `(or delete line ${offending.line} of that file by hand if it holds a pattern such as *.cluster).`,
    `Host key verification failed (burrow refuses a changed key whatever StrictHostKeyChecking says).`,
  ].join('\n');
  return new BurrowError('HOST_KEY_MISMATCH', message, {
    phase: 'hostkey',
    details: details(p, { reason: 'changed', file: offending.file, line: offending.line }),
  });
}

export function otherTypeError(p: Presented, known: readonly KnownHostEntry[]): BurrowError {
  const list = known.map((e) => `  ${displayKeyType(e.keyType)} key in ${where(e)}`).join('\n');
  const message = [
    `The server ${p.name} presented an ${displayKeyType(p.keyType)} host key (${p.fingerprint}),`,
    'but known_hosts holds only keys of other types for it:',
    list,
    'burrow does not add a key of a new type on its own: an attacker could offer one.',
    'If the cluster\'s administrators publish this fingerprint, add the key with',
    `  ${keyscan(p, known[0]?.file)}   (then compare: ssh-keygen -lf <that file>)`,
    'or connect once with StrictHostKeyChecking=ask and confirm it.',
  ].join('\n');
  return new BurrowError('HOST_KEY_MISMATCH', message, {
    phase: 'hostkey',
    details: details(p, { reason: 'other-type', known: known.map((e) => ({ file: e.file, line: e.line, keyType: e.keyType })) }),
  });
}

export function revokedError(p: Presented, entry: KnownHostEntry): BurrowError {
  const message =
    `The ${displayKeyType(p.keyType)} host key of ${p.name} (${p.fingerprint}) is marked @revoked in ${where(entry)}; ` +
    'burrow will not connect. Ask the cluster\'s administrators for the current host key.';
  return new BurrowError('HOST_KEY_REVOKED', message, {
    phase: 'hostkey',
    details: details(p, { file: entry.file, line: entry.line }),
  });
}

export function unknownError(p: Presented, why: 'strict' | 'cannot-ask', appendTo: string | undefined): BurrowError {
  const head =
    why === 'strict'
      ? `No ${displayKeyType(p.keyType)} host key is known for ${p.name} and strict host key checking is on (StrictHostKeyChecking=yes).`
      : `The authenticity of host ${p.name} can't be established and there is no terminal to ask you.`;
  const message = [
    head,
    `The server's ${displayKeyType(p.keyType)} key fingerprint is ${p.fingerprint}.`,
    'Compare it with the fingerprint your cluster publishes, then either connect once with',
    'StrictHostKeyChecking=accept-new (or ask, from a terminal), or add the key yourself:',
    `  ${keyscan(p, appendTo)}`,
  ].join('\n');
  return new BurrowError('HOST_KEY_UNKNOWN', message, { phase: 'hostkey', details: details(p, { reason: why }) });
}

export function rejectedError(p: Presented, answer: string): BurrowError {
  const message =
    `Host key verification failed: you answered ${JSON.stringify(answer)} to the question about ${p.name} ` +
    `(${p.fingerprint}). Answer "yes" or type the fingerprint to trust it.`;
  return new BurrowError('HOST_KEY_REJECTED', message, { phase: 'hostkey', details: details(p) });
}

export function malformedKeyError(name: string): BurrowError {
  return new BurrowError('HOST_KEY_REJECTED', `The server ${name} sent a host key burrow cannot parse; refusing to connect.`, {
    phase: 'hostkey',
    details: { host: name },
  });
}

/** OpenSSH's question for an unknown host (`StrictHostKeyChecking ask`). */
export function askQuestion(p: Presented, otherTypesKnown: boolean): string {
  const tail = otherTypesKnown ? '\nbut keys of different type are already known for this host.' : '.';
  return (
    `The authenticity of host '${p.name}' can't be established${tail}\n` +
    `${displayKeyType(p.keyType)} key fingerprint is ${p.fingerprint}.\n` +
    'Are you sure you want to continue connecting (yes/no/[fingerprint])? '
  );
}

export function addedWarning(p: Presented, file: string): string {
  return `Warning: Permanently added '${p.name}' (${displayKeyType(p.keyType)}) to the list of known hosts (${file}).`;
}
