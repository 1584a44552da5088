/**
 * The few commands the demo server answers in JavaScript, so `ssh demo echo hi` works
 * without the server ever spawning a shell.
 */
import { arch, hostname, release, type } from 'node:os';

export interface BuiltinResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const BUILTINS = ['echo', 'hostname', 'uname', 'whoami', 'true', 'false', 'help'] as const;

/**
 * Runs one built-in command line. Unknown commands exit 127 and say what exists.
 *
 * @example
 * runBuiltin('echo hi', { user: 'demo' }); // { stdout: 'hi\n', stderr: '', code: 0 }
 */
export function runBuiltin(line: string, env: { user: string }): BuiltinResult {
  const [cmd, ...args] = splitWords(line);
  const ok = (stdout: string): BuiltinResult => ({ stdout, stderr: '', code: 0 });
  switch (cmd) {
    case undefined:
    case 'true':
      return ok('');
    case 'false':
      return { stdout: '', stderr: '', code: 1 };
    case 'echo':
      return args[0] === '-n' ? ok(args.slice(1).join(' ')) : ok(`${args.join(' ')}\n`);
    case 'hostname':
      return ok(`${hostname()}\n`);
    case 'whoami':
      return ok(`${env.user}\n`);
    case 'uname':
      return uname(args);
    case 'help':
      return ok(`burrow demo server built-ins: ${BUILTINS.join(', ')}\n`);
    default:
      return {
        stdout: '',
        stderr:
          `burrow demo server: ${cmd}: not available (built-ins: ${BUILTINS.join(', ')}); ` +
          'the server runs real commands only when started with allowExec\n',
        code: 127,
      };
  }
}

function uname(args: string[]): BuiltinResult {
  const fields: Record<string, string> = { s: type(), n: hostname(), r: release(), m: arch() };
  const flags = args.flatMap((a) => (a.startsWith('-') ? [...a.slice(1)] : [a]));
  const want = flags.includes('a') ? ['s', 'n', 'r', 'm'] : flags.length ? flags : ['s'];
  const bad = want.find((f) => !(f in fields));
  if (bad !== undefined) return { stdout: '', stderr: `uname: invalid option -- '${bad}'\n`, code: 1 };
  return { stdout: `${want.map((f) => fields[f]).join(' ')}\n`, stderr: '', code: 0 };
}

/** Splits a command line on blanks, honouring '…' and "…" quoting and backslashes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur = (cur ?? '') + line[++i];
      else cur = (cur ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      cur = (cur ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== undefined) words.push(cur);
  return words;
}
