/**
 * ssh-compatible argument parsing: options, the destination, more options, then the
 * remote command (OpenSSH parses options again after the destination, and stops at
 * the first word after it). Usage errors are BurrowError `USAGE` (exit 2).
 */
import { algorithmSpecProblem } from '../config/ssh-config/algorithms.js';
import { BurrowError } from '../errors.js';

export interface SshArgs {
  destination?: string;
  command: string[];
  local: string[];
  remote: string[];
  dynamic: string[];
  /** -o options and the flags that map to them (-p, -l, -J, -4, -6, -g; -c first), in order. */
  options: string[];
  configFile?: string;
  identityFiles: string[];
  noCommand: boolean; // -N
  forceTty: number; // -t count
  noTty: boolean; // -T
  verbose: number;
  quiet: boolean;
  json: boolean;
  /** The last -c: it wins over -o Ciphers and the config files, as in ssh. */
  ciphers?: string;
  help: boolean;
  version: boolean;
}

const WITH_VALUE = new Set(['L', 'R', 'D', 'J', 'p', 'l', 'i', 'F', 'o', 'c', 'b', 'E', 'm', 'O', 'Q', 'S', 'W', 'w', 'e', 'B', 'I']);
const FLAGS = new Set(['N', 'v', 'q', '4', '6', 'T', 't', 'h', 'V', 'f', 'g', 'n', 'x', 'X', 'Y', 'A', 'a', 'C', 'G', 'K', 'k', 'M', 's']);
/** Known to OpenSSH, not (yet) to burrow: say so instead of silently ignoring. */
const UNSUPPORTED: Record<string, string> = {
  f: '-f (go to background) comes with the burrow agent; run burrow in a spare terminal for now',
  W: '-W (stdio forwarding) is not supported; use -L',
  X: 'X11 forwarding is not supported',
  Y: 'X11 forwarding is not supported',
  M: 'ControlMaster is not needed: burrow shares one connection per host by itself',
  S: 'ControlPath is not needed: burrow shares one connection per host by itself',
  O: 'control commands (-O) are not supported',
  w: 'tun forwarding (-w) is not supported',
  G: '-G is not supported; use ssh -G',
};

function usage(message: string): BurrowError {
  return new BurrowError('USAGE', `${message}\nrun 'burrow --help' for usage`, { phase: 'cli' });
}

export function parseSshArgs(argv: string[]): SshArgs {
  const a: SshArgs = {
    command: [], local: [], remote: [], dynamic: [], options: [], identityFiles: [],
    noCommand: false, forceTty: 0, noTty: false, verbose: 0, quiet: false, json: false, help: false, version: false,
  };
  let i = 0;
  const value = (flag: string, rest: string): string => {
    if (rest) return rest;
    const v = argv[++i];
    if (v === undefined) throw usage(`option -${flag} needs a value`);
    return v;
  };
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (arg === '--') {
      i++;
      if (!a.destination) {
        a.destination = argv[i++];
      }
      a.command = argv.slice(i);
      break;
    }
    if (arg === '--json') { a.json = true; i++; continue; }
    if (arg === '--help') { a.help = true; i++; continue; }
    if (arg === '--version') { a.version = true; i++; continue; }
    if (arg.startsWith('--')) throw usage(`unknown option ${arg}`);
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const f = arg[j] as string;
        if (WITH_VALUE.has(f)) {
          const v = value(f, arg.slice(j + 1));
          apply(a, f, v);
          break;
        }
        if (!FLAGS.has(f)) throw usage(`unknown option -${f}`);
        applyFlag(a, f);
      }
      i++;
      continue;
    }
    if (!a.destination) {
      a.destination = arg;
      i++;
      continue;
    }
    a.command = argv.slice(i);
    break;
  }
  // ssh sets the cipher list from -c before reading -o and the config files: it wins.
  if (a.ciphers !== undefined) a.options.unshift(`Ciphers=${a.ciphers}`);
  return a;
}

function apply(a: SshArgs, f: string, v: string): void {
  if (UNSUPPORTED[f]) throw usage(UNSUPPORTED[f]);
  switch (f) {
    case 'L': a.local.push(v); break;
    case 'R': a.remote.push(v); break;
    case 'D': a.dynamic.push(v); break;
    case 'J': {
      if (v.trim() === '') throw usage("invalid -J argument ''; expected [user@]host[:port][,...]");
      a.options.push(`ProxyJump=${v}`);
      break;
    }
    case 'p': {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw usage(`bad port '${v}'`);
      a.options.push(`Port=${v}`);
      break;
    }
    case 'l': {
      if (v === '') throw usage('-l needs a user name');
      a.options.push(`User=${v}`);
      break;
    }
    case 'i': a.identityFiles.push(v); break;
    case 'F': a.configFile = v; break;
    case 'o': a.options.push(v); break;
    case 'c': {
      const problem = algorithmSpecProblem('cipher', v);
      if (problem) throw usage(`-c '${v}' ${problem}`);
      a.ciphers = v;
      break;
    }
    default: throw usage(`option -${f} is not supported by burrow`);
  }
}

function applyFlag(a: SshArgs, f: string): void {
  if (UNSUPPORTED[f]) throw usage(UNSUPPORTED[f]);
  switch (f) {
    case 'N': a.noCommand = true; break;
    case 'v': a.verbose++; break;
    case 'q': a.quiet = true; break;
    case '4': a.options.push('AddressFamily=inet'); break;
    case '6': a.options.push('AddressFamily=inet6'); break;
    case 'T': a.noTty = true; break;
    case 't': a.forceTty++; break;
    case 'h': a.help = true; break;
    case 'V': a.version = true; break;
    case 'g': a.options.push('GatewayPorts=yes'); break;
    // Accepted for compatibility, no effect here.
    case 'n': case 'x': case 'a': case 'A': case 'C': case 'k': case 'K': case 's': break;
    default: throw usage(`option -${f} is not supported by burrow`);
  }
}
