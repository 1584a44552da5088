/**
 * OpenSSH's pattern matching (match.c): `*` and `?` wildcards, `!` negation,
 * comma-separated lists.
 */

const cache = new Map<string, RegExp>();

/** `match_pattern`: the whole string against one wildcard pattern, case-sensitive. */
export function matchPattern(s: string, pattern: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
    re = new RegExp(`^${body}$`, 's');
    cache.set(pattern, re);
  }
  return re.test(s);
}

/**
 * `match_pattern_list`: 1 when a positive sub-pattern matches, -1 when a negated one
 * does (which wins over any positive), 0 otherwise. `lower` folds the patterns to
 * lower case (the string is the caller's business).
 */
export function matchPatternList(s: string, list: string, lower: boolean): -1 | 0 | 1 {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    let sub = negated ? raw.slice(1) : raw;
    if (lower) sub = sub.toLowerCase();
    if (matchPattern(s, sub)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}

/** `match_hostname`: a pattern list against a host name, both folded to lower case. */
export function matchHostname(host: string, list: string): boolean {
  return matchPatternList(host.toLowerCase(), list, true) === 1;
}

/**
 * Whether a `Host` line applies: some pattern matches and no negated one does.
 * Each argument is one pattern (OpenSSH does not split `Host` arguments on commas).
 */
export function hostLineMatches(host: string, patterns: readonly string[]): boolean {
  let active = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    if (matchPattern(host, negated ? p.slice(1) : p)) {
      if (negated) return false;
      active = true;
    }
  }
  return active;
}
