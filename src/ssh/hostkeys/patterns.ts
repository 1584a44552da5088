/**
 * Host-name matching as OpenSSH does it in known_hosts: comma-separated patterns with
 * `*`, `?` and `!negation`, `[host]:port` names for non-default ports, and hashed
 * `|1|salt|hmac` names (`HashKnownHosts yes`, `ssh-keygen -H`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const HASH_MAGIC = '|1|';
const SHA1_LEN = 20;

/**
 * The name a host is filed under in known_hosts: the bare name for port 22,
 * `[name]:port` otherwise. Lower-cased, as OpenSSH looks names up.
 *
 * @example
 * knownHostsName('Mahuika.NeSI.org.nz', 22);  // 'mahuika.nesi.org.nz'
 * knownHostsName('127.0.0.1', 2222);          // '[127.0.0.1]:2222'
 */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** `*` matches any run of characters, `?` exactly one; everything else literally. */
export function wildcardMatch(text: string, pattern: string): boolean {
  // Iterative matcher with one backtrack point: linear for the patterns found in
  // known_hosts and immune to the blow-up a naive recursive matcher has on `*a*a*a`.
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const pc = pattern[p];
    if (pc === '*') {
      starP = p++;
      starT = t;
    } else if (pc !== undefined && (pc === '?' || pc === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * Whether `name` (as from {@link knownHostsName}) matches a comma-separated pattern
 * list. A matching negated pattern vetoes the whole list, like OpenSSH's
 * `match_hostname`; without a positive match the answer is false.
 */
export function matchPatternList(name: string, patterns: string): boolean {
  const lname = name.toLowerCase();
  let positive = false;
  for (const raw of patterns.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatch(lname, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** True for a hashed host field (`|1|salt|hash`). */
export function isHashedHostField(field: string): boolean {
  return field.startsWith(HASH_MAGIC);
}

/**
 * Hashes a name as `HashKnownHosts` does: `|1|` base64(salt) `|` base64(HMAC-SHA1(salt, name)).
 * A random 20-byte salt unless one is given (tests).
 */
export function hashHostName(name: string, salt: Buffer = randomBytes(SHA1_LEN)): string {
  const mac = createHmac('sha1', salt).update(name.toLowerCase()).digest();
  return `${HASH_MAGIC}${salt.toString('base64')}|${mac.toString('base64')}`;
}

/** Whether a hashed field was made from `name`; false for a malformed field. */
export function matchHashed(name: string, field: string): boolean {
  if (!isHashedHostField(field)) return false;
  const parts = field.slice(HASH_MAGIC.length).split('|');
  if (parts.length !== 2) return false;
  const salt = Buffer.from(parts[0] ?? '', 'base64');
  const want = Buffer.from(parts[1] ?? '', 'base64');
  if (salt.length !== SHA1_LEN || want.length !== SHA1_LEN) return false;
  const got = createHmac('sha1', salt).update(name.toLowerCase()).digest();
  return timingSafeEqual(got, want);
}

/** Whether a known_hosts host field (plain pattern list or hashed name) covers `name`. */
export function hostFieldMatches(name: string, field: string): boolean {
  return isHashedHostField(field) ? matchHashed(name, field) : matchPatternList(name, field);
}
