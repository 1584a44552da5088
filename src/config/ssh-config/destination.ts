/**
 * Destinations as `ssh` takes them: `host`, `user@host`, `ssh://user@host:port`,
 * and the hop syntax of ProxyJump (`user@host:port`, comma-separated).
 */
import { BurrowError } from '../../errors.js';
import { toPort } from './values.js';

export interface Destination {
  user?: string;
  host: string;
  port?: number;
}

function badDestination(dest: string, why: string): BurrowError {
  return new BurrowError('USAGE', `bad destination '${dest}': ${why}; use host, user@host or ssh://user@host:port`, {
    phase: 'config',
    details: { destination: dest },
  });
}

/** `[v6addr]` → `v6addr` (OpenSSH `cleanhostname`). */
function cleanHost(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** Splits `host[:rest]` honouring `[...]`; undefined when brackets are malformed. */
function hostAndRest(s: string): { host: string; delim?: string; rest?: string } | undefined {
  let end: number;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    end = close + 1;
    if (end < s.length && s[end] !== ':' && s[end] !== '/') return undefined;
  } else {
    const m = /[:/]/.exec(s);
    end = m ? m.index : s.length;
  }
  if (end >= s.length) return { host: s };
  return { host: s.slice(0, end), delim: s[end] as string, rest: s.slice(end + 1) };
}

/**
 * `ssh://[user[;params]@]host[:port][/]`; undefined when `s` is not an ssh URI,
 * null when it is one but malformed.
 */
export function parseSshUri(s: string): Destination | undefined | null {
  if (!s.startsWith('ssh://')) return undefined;
  let tmp = s.slice(6);
  let user: string | undefined;
  const at = tmp.indexOf('@');
  if (at >= 0) {
    const info = tmp.slice(0, at).split(';')[0] as string;
    if (info === '') return null;
    try {
      user = decodeURIComponent(info);
    } catch {
      return null;
    }
    tmp = tmp.slice(at + 1);
  }
  const hr = hostAndRest(tmp);
  if (!hr || hr.host === '') return null;
  const host = cleanHost(hr.host);
  let port: number | undefined;
  let rest = hr.rest;
  if (rest !== undefined && rest !== '' && hr.delim === ':') {
    const slash = rest.indexOf('/');
    const p = toPort(slash < 0 ? rest : rest.slice(0, slash));
    if (p === undefined) return null;
    port = p;
    rest = slash < 0 ? '' : rest.slice(slash + 1);
  }
  if (rest !== undefined && rest !== '') return null; // a path is not allowed
  return { ...(user !== undefined && { user }), host, ...(port !== undefined && { port }) };
}

/**
 * Parses the destination argument of `ssh` (`host`, `user@host`, `ssh://...`).
 *
 * @example
 * parseDestination('cwal219@mahuika');        // { user: 'cwal219', host: 'mahuika' }
 * parseDestination('ssh://bob@mahuika:2200'); // { user: 'bob', host: 'mahuika', port: 2200 }
 */
export function parseDestination(dest: string): Destination {
  const uri = parseSshUri(dest);
  if (uri === null) throw badDestination(dest, 'malformed ssh:// URI');
  if (uri) return uri;
  const at = dest.lastIndexOf('@');
  if (at === 0) throw badDestination(dest, 'empty user name');
  const host = at < 0 ? dest : dest.slice(at + 1);
  if (host === '') throw badDestination(dest, 'empty host name');
  return at < 0 ? { host } : { user: dest.slice(0, at), host };
}

/** One ProxyJump hop: `[user@]host[:port]` or an ssh URI; undefined when malformed. */
export function parseJumpHop(hop: string): Destination | undefined {
  const uri = parseSshUri(hop);
  if (uri === null) return undefined;
  if (uri) return uri;
  let tmp = hop;
  let user: string | undefined;
  const at = tmp.lastIndexOf('@');
  if (at >= 0) {
    if (at === 0) return undefined;
    user = tmp.slice(0, at);
    tmp = tmp.slice(at + 1);
  }
  const hr = hostAndRest(tmp);
  if (!hr || hr.host === '' || hr.delim === '/') return undefined;
  let port: number | undefined;
  if (hr.rest !== undefined && hr.rest !== '') {
    port = toPort(hr.rest);
    if (port === undefined) return undefined;
  }
  return { ...(user !== undefined && { user }), host: cleanHost(hr.host), ...(port !== undefined && { port }) };
}

/**
 * OpenSSH's `ssh_valid_hostname`: no shell metacharacters, whitespace or leading
 * `-` in a host name that came from the command line (it ends up in `%h`).
 */
export function isValidHostname(s: string): boolean {
  return !s.startsWith('-') && !/["'`$\\;&<>|(){},\s\p{Cc}]/u.test(s);
}

/** OpenSSH's `ssh_valid_ruser`, for user names given on the command line. */
export function isValidRemoteUser(s: string): boolean {
  return !s.startsWith('-') && !/["'`;&<>|(){}\p{Cc}]|\s-|\\$/u.test(s);
}
