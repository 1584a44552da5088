/**
 * `Ciphers` and `-c`, as OpenSSH reads them (readconf.c `ciphers_valid`, kex.c
 * `kex_assemble_names`): a list replaces the default, `+list` appends to it, `^list`
 * puts its names first, `-patterns` removes the matching ones. The default and the
 * supported set are ssh2's (which ciphers the runtime's OpenSSL offers decides both).
 */
import { createRequire } from 'node:module';
import { matchPatternList } from './patterns.js';

interface Lists {
  DEFAULT_CIPHER: readonly string[];
  SUPPORTED_CIPHER: readonly string[];
}
let lists: Lists | undefined;

/**
 * ssh2's lists, loaded on first use: they come with ssh2's crypto and its native binding,
 * which `burrow --help` and a usage error should not pay for (~50 ms). ssh2 has no
 * exports map; the lists depend on what the runtime's crypto offers.
 */
function ssh2Lists(): Lists {
  lists ??= createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Lists;
  return lists;
}

/** ssh2's default cipher order, most preferred first. */
export function defaultCiphers(): readonly string[] {
  return ssh2Lists().DEFAULT_CIPHER;
}

/** Every cipher ssh2 can run here. */
export function supportedCiphers(): readonly string[] {
  return ssh2Lists().SUPPORTED_CIPHER;
}

/**
 * Why `spec` is not a valid cipher spec, or undefined when it is. As ssh, names after
 * `+` or `^` and in a plain list must each be a cipher burrow supports; a `-` list holds
 * patterns, and must leave at least one of the defaults.
 */
export function cipherSpecProblem(spec: string, supported: readonly string[] = supportedCiphers()): string | undefined {
  if (spec === '') return 'is empty';
  if (spec.startsWith('-')) return assembleCiphers(spec).length === 0 ? 'leaves no cipher to offer' : undefined;
  const names = spec.startsWith('+') || spec.startsWith('^') ? spec.slice(1) : spec;
  const unknown = names.split(',').filter((n) => !supported.includes(n));
  if (unknown.length === 0) return undefined;
  return `has ${unknown.length > 1 ? 'unknown ciphers' : 'an unknown cipher'} ${unknown.map((n) => `'${n}'`).join(', ')}; burrow supports ${supported.join(', ')}`;
}

/**
 * The cipher list a spec stands for, in order of preference, without duplicates.
 *
 * @example
 * assembleCiphers('^chacha20-poly1305@openssh.com'); // chacha first, then ssh2's defaults
 * assembleCiphers('-*-cbc,aes128-*');                 // the defaults without those
 */
export function assembleCiphers(spec: string, defaults: readonly string[] = defaultCiphers()): string[] {
  const names = (list: string): string[] => list.split(',').filter((n) => n !== '');
  let list: string[];
  if (spec.startsWith('-')) return defaults.filter((c) => matchPatternList(c, spec.slice(1), false) !== 1);
  if (spec.startsWith('+')) list = [...defaults, ...names(spec.slice(1))];
  else if (spec.startsWith('^')) list = [...names(spec.slice(1)), ...defaults];
  else list = names(spec);
  return [...new Set(list)];
}
