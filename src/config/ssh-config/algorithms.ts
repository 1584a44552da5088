/**
 * `Ciphers`, `MACs` and `KexAlgorithms` (and `-c`), as OpenSSH reads them (readconf.c
 * `ciphers_valid`, `mac_valid`, `kex_names_valid`; kex.c `kex_assemble_names`): a list
 * replaces the default, `+list` appends to it, `^list` puts its names first,
 * `-patterns` removes the matching ones. The default and the supported set are ssh2's
 * (what the runtime's OpenSSL offers decides both). A name OpenSSH knows that ssh2 lacks
 * (umac, sntrup761, mlkem) is left out of what burrow offers, so a config written for
 * ssh still works; a name neither knows is an error, as it is for ssh.
 */
import { createRequire } from 'node:module';
import { matchPatternList } from './patterns.js';

export type AlgorithmKind = 'cipher' | 'mac' | 'kex';

/** The keyword and the word for one algorithm, for messages. */
export const KINDS: Readonly<Record<AlgorithmKind, { keyword: string; noun: string }>> = {
  cipher: { keyword: 'Ciphers', noun: 'cipher' },
  mac: { keyword: 'MACs', noun: 'MAC' },
  kex: { keyword: 'KexAlgorithms', noun: 'key exchange' },
};

/** OpenSSH's names that ssh2 does not implement (OpenSSH 9.2's `ssh -Q`, plus 9.9's mlkem). */
const OPENSSH_ONLY: Readonly<Record<AlgorithmKind, readonly string[]>> = {
  cipher: [],
  mac: [
    'umac-64@openssh.com', 'umac-128@openssh.com', 'umac-64-etm@openssh.com', 'umac-128-etm@openssh.com',
    'hmac-sha1-96-etm@openssh.com', 'hmac-md5-etm@openssh.com', 'hmac-md5-96-etm@openssh.com',
  ],
  kex: ['sntrup761x25519-sha512', 'sntrup761x25519-sha512@openssh.com', 'mlkem768x25519-sha256'],
};

type Lists = Record<`${'DEFAULT' | 'SUPPORTED'}_${'CIPHER' | 'MAC' | 'KEX'}`, readonly string[]>;
let lists: Lists | undefined;

/**
 * ssh2's lists, loaded on first use: they come with ssh2's crypto and its native binding,
 * which `burrow --help` and a usage error should not pay for (~50 ms). ssh2 has no
 * exports map.
 */
function ssh2Lists(): Lists {
  lists ??= createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Lists;
  return lists;
}

const KEY = { cipher: 'CIPHER', mac: 'MAC', kex: 'KEX' } as const;

/** ssh2's default order, most preferred first. */
export function defaultAlgorithms(kind: AlgorithmKind): readonly string[] {
  return ssh2Lists()[`DEFAULT_${KEY[kind]}`];
}

/** Every algorithm of this kind ssh2 can run here. */
export function supportedAlgorithms(kind: AlgorithmKind): readonly string[] {
  return ssh2Lists()[`SUPPORTED_${KEY[kind]}`];
}

/**
 * The list a spec stands for, in order of preference, without duplicates, keeping only
 * what `supported` holds.
 *
 * @example
 * assembleAlgorithms('cipher', '^chacha20-poly1305@openssh.com'); // chacha first, then ssh2's defaults
 * assembleAlgorithms('mac', '-*-sha1*,umac-*');                     // the defaults without those
 */
export function assembleAlgorithms(
  kind: AlgorithmKind,
  spec: string,
  defaults: readonly string[] = defaultAlgorithms(kind),
  supported: readonly string[] = supportedAlgorithms(kind),
): string[] {
  const names = (list: string): string[] => list.split(',').filter((n) => n !== '');
  if (spec.startsWith('-')) return defaults.filter((a) => matchPatternList(a, spec.slice(1), false) !== 1);
  let list: string[];
  if (spec.startsWith('+')) list = [...defaults, ...names(spec.slice(1))];
  else if (spec.startsWith('^')) list = [...names(spec.slice(1)), ...defaults];
  else list = names(spec);
  return [...new Set(list)].filter((a) => supported.includes(a));
}

/**
 * Why `spec` is not a valid spec of this kind, or undefined when it is. As ssh, each name
 * after `+` or `^` and in a plain list must be one OpenSSH knows; beyond ssh, what is
 * left for burrow to offer must not be empty.
 */
export function algorithmSpecProblem(kind: AlgorithmKind, spec: string): string | undefined {
  if (spec === '') return 'is empty';
  const supported = supportedAlgorithms(kind);
  if (!spec.startsWith('-')) {
    const names = spec.startsWith('+') || spec.startsWith('^') ? spec.slice(1) : spec;
    const unknown = names.split(',').filter((n) => !supported.includes(n) && !OPENSSH_ONLY[kind].includes(n));
    if (unknown.length > 0) {
      const noun = KINDS[kind].noun;
      return `has ${unknown.length > 1 ? `unknown ${noun}s` : `an unknown ${noun}`} ${unknown.map((n) => `'${n}'`).join(', ')}; burrow supports ${supported.join(', ')}`;
    }
  }
  if (assembleAlgorithms(kind, spec).length === 0) return `leaves no ${KINDS[kind].noun} burrow supports (it has ${supported.join(', ')})`;
  return undefined;
}
