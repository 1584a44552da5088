/**
 * The options gathered while reading config, before defaults: the first value
 * obtained wins, except for the keywords that accumulate. One function applies one
 * parsed line; it validates the value even when the line is in an inactive block,
 * as ssh does, so a typo is reported whichever host is being resolved.
 */
import { isBurrowError } from '../../errors.js';
import { parseForwardSpec, type ForwardKind } from '../forward-spec.js';
import type { AddressFamily, StrictHostKeyChecking } from '../types.js';
import { algorithmSpecProblem, KINDS, type AlgorithmKind } from './algorithms.js';
import { parseJumpHop } from './destination.js';
import {
  configError,
  parseAddressFamily,
  parseCount,
  parseFlag,
  parsePort,
  parseStrictHostKeyChecking,
  parseTime,
  type Origin,
} from './values.js';

export interface ForwardEntry {
  /** As written, arguments joined by one space (`6676 mahuika:6676`). */
  raw: string;
  /** Identity for de-duplication (ssh drops a forward equal to an earlier one). */
  key: string;
}

export interface RawOptions {
  hostname?: string;
  user?: string;
  port?: number;
  identityFiles: { path: string; userProvided: boolean }[];
  identitiesOnly?: boolean;
  /**
   * As OpenSSH since the 2026 fix (and Debian's 9.2): a ProxyJump host also sets
   * ProxyCommand to `none`, so whichever of the two comes first wins; `ProxyJump none`
   * only blocks later ProxyJump lines, `ProxyCommand` (even `none`) blocks later ProxyJump.
   */
  proxyCommand?: string;
  proxyJump?: string;
  localForwards: ForwardEntry[];
  remoteForwards: ForwardEntry[];
  dynamicForwards: ForwardEntry[];
  clearAllForwardings?: boolean;
  exitOnForwardFailure?: boolean;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  strictHostKeyChecking?: StrictHostKeyChecking;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hostKeyAlias?: string;
  gatewayPorts?: boolean;
  connectTimeout?: number;
  addressFamily?: AddressFamily;
  batchMode?: boolean;
  ignoreUnknown?: string;
  canonicalizeHostname?: boolean;
  /** As written (`^chacha20-poly1305@openssh.com`); checked when read. */
  ciphers?: string;
  macs?: string;
  kexAlgorithms?: string;
  unsupported: string[];
}

export function emptyOptions(): RawOptions {
  return { identityFiles: [], localForwards: [], remoteForwards: [], dynamicForwards: [], unsupported: [] };
}

export interface LineInput {
  /** Canonical keyword (see `IMPLEMENTED`). */
  keyword: string;
  args: string[];
  /** The raw argument text (ProxyCommand, ProxyJump). */
  rest: string;
  origin: Origin;
  active: boolean;
  /** From a user config (-F or ~/.ssh/config), not the system one. */
  userConf: boolean;
}

function one(l: LineInput): string {
  const [arg, ...extra] = l.args;
  if (arg === undefined || arg === '') throw configError(l.origin, `${l.keyword} needs an argument`);
  if (extra.length > 0) throw configError(l.origin, `${l.keyword} takes one argument, got extra '${extra.join(' ')}'`);
  return arg;
}

/** Sets `o[key]` when the line is active and the option is still unset. */
function first<K extends keyof RawOptions>(o: RawOptions, l: LineInput, key: K, value: RawOptions[K] | null): void {
  if (l.active && o[key] === undefined && value !== null) o[key] = value;
}

function fileList(l: LineInput): string[] {
  if (l.args.length === 0) throw configError(l.origin, `${l.keyword} needs at least one file`);
  for (const [i, a] of l.args.entries()) {
    if (a === '') throw configError(l.origin, `${l.keyword} has an empty argument`);
    if (a.toLowerCase() === 'none' && (i > 0 || l.args.length > 1)) {
      throw configError(l.origin, `${l.keyword} 'none' must appear alone`);
    }
  }
  return l.args;
}

function addForward(o: RawOptions, l: LineInput): void {
  const [a, b, ...extra] = l.args;
  if (a === undefined || a === '') throw configError(l.origin, `${l.keyword} needs an argument`);
  let list = o.localForwards;
  let kind: ForwardKind = 'local';
  if (l.keyword === 'remoteforward') {
    list = o.remoteForwards;
    // One argument: a remote dynamic (SOCKS) forward.
    kind = b === undefined ? 'dynamic' : 'remote';
  } else if (l.keyword === 'dynamicforward') {
    list = o.dynamicForwards;
    kind = 'dynamic';
  }
  if (kind === 'dynamic' ? b !== undefined : b === undefined) {
    throw configError(l.origin, `${l.keyword} ${kind === 'dynamic' ? 'takes one argument' : 'needs a listen and a target argument'}, e.g. ${l.keyword === 'dynamicforward' ? '1080' : '6676 localhost:6676'}`);
  }
  if (extra.length > 0) throw configError(l.origin, `${l.keyword} has extra arguments '${extra.join(' ')}'`);
  let key: string;
  try {
    const spec = parseForwardSpec(kind, b === undefined ? a : `${a}:${b}`);
    key = JSON.stringify([kind, spec.listen, spec.target ?? null]);
  } catch (e) {
    if (isBurrowError(e)) throw configError(l.origin, `${l.keyword} ${l.args.join(' ')}: ${e.message}`, e);
    throw e;
  }
  if (!l.active || list.some((f) => f.key === key)) return;
  list.push({ raw: l.args.join(' '), key });
}

function setJump(o: RawOptions, l: LineInput): void {
  const value = l.rest.replace(/^[ \t=]+/, '').replace(/#.*$/, '').trimEnd();
  if (value === '') throw configError(l.origin, 'ProxyJump needs an argument');
  if (value.toLowerCase() !== 'none') {
    for (const hop of value.split(',')) {
      if (!parseJumpHop(hop)) {
        throw configError(l.origin, `bad ProxyJump hop '${hop}'; use [user@]host[:port] separated by commas, or none`);
      }
    }
  }
  if (!l.active || o.proxyJump !== undefined) return;
  if (value.toLowerCase() === 'none') {
    o.proxyJump = 'none';
  } else if (o.proxyCommand === undefined) {
    o.proxyJump = value;
    o.proxyCommand = 'none';
  }
}

function checkAlgorithms(l: LineInput, kind: AlgorithmKind): string {
  const spec = one(l);
  const problem = algorithmSpecProblem(kind, spec);
  if (problem) throw configError(l.origin, `${KINDS[kind].keyword} '${spec}' ${problem}`);
  return spec;
}

/** Applies one line of an implemented keyword other than Host, Match and Include. */
export function applyLine(o: RawOptions, l: LineInput): void {
  const { origin, keyword } = l;
  switch (keyword) {
    case 'hostname':
      return first(o, l, 'hostname', one(l));
    case 'user':
      return first(o, l, 'user', one(l));
    case 'port':
      return first(o, l, 'port', parsePort(origin, one(l)));
    case 'hostkeyalias':
      return first(o, l, 'hostKeyAlias', one(l));
    case 'ignoreunknown':
      return first(o, l, 'ignoreUnknown', one(l));
    case 'identityfile': {
      const path = one(l);
      const userProvided = l.userConf;
      if (l.active && !o.identityFiles.some((f) => f.path === path && f.userProvided === userProvided)) {
        o.identityFiles.push({ path, userProvided });
      }
      return;
    }
    case 'identitiesonly':
      return first(o, l, 'identitiesOnly', parseFlag(origin, 'IdentitiesOnly', one(l)));
    case 'exitonforwardfailure':
      return first(o, l, 'exitOnForwardFailure', parseFlag(origin, 'ExitOnForwardFailure', one(l)));
    case 'clearallforwardings':
      return first(o, l, 'clearAllForwardings', parseFlag(origin, 'ClearAllForwardings', one(l)));
    case 'gatewayports':
      return first(o, l, 'gatewayPorts', parseFlag(origin, 'GatewayPorts', one(l)));
    case 'batchmode':
      return first(o, l, 'batchMode', parseFlag(origin, 'BatchMode', one(l)));
    case 'canonicalizehostname': {
      const v = one(l).toLowerCase();
      if (!['yes', 'no', 'true', 'false', 'always'].includes(v)) {
        throw configError(origin, `CanonicalizeHostname does not accept '${v}'; use yes, no or always`);
      }
      return first(o, l, 'canonicalizeHostname', v !== 'no' && v !== 'false');
    }
    case 'stricthostkeychecking':
      return first(o, l, 'strictHostKeyChecking', parseStrictHostKeyChecking(origin, one(l)));
    case 'addressfamily':
      return first(o, l, 'addressFamily', parseAddressFamily(origin, one(l)));
    case 'serveraliveinterval':
      return first(o, l, 'serverAliveInterval', parseTime(origin, 'ServerAliveInterval', one(l)));
    case 'connecttimeout':
      return first(o, l, 'connectTimeout', parseTime(origin, 'ConnectTimeout', one(l)));
    case 'serveralivecountmax':
      return first(o, l, 'serverAliveCountMax', parseCount(origin, 'ServerAliveCountMax', one(l)));
    case 'userknownhostsfile':
      return first(o, l, 'userKnownHostsFiles', fileList(l));
    case 'globalknownhostsfile':
      return first(o, l, 'globalKnownHostsFiles', fileList(l));
    case 'proxycommand':
      return first(o, l, 'proxyCommand', l.rest.replace(/^[ \t=]+/, ''));
    case 'proxyjump':
      return setJump(o, l);
    case 'ciphers':
      return first(o, l, 'ciphers', checkAlgorithms(l, 'cipher'));
    case 'macs':
      return first(o, l, 'macs', checkAlgorithms(l, 'mac'));
    case 'kexalgorithms':
      return first(o, l, 'kexAlgorithms', checkAlgorithms(l, 'kex'));
    case 'localforward':
    case 'remoteforward':
    case 'dynamicforward':
      return addForward(o, l);
    default:
      throw configError(origin, `internal: keyword ${keyword} has no handler`);
  }
}
