/**
 * `-o Key=Value` / `-o "Key Value"` as the CLI receives it.
 */
import { BurrowError } from '../../errors.js';
import { keywordKind } from './keywords.js';
import { splitLine } from './lexer.js';

export interface OptionArg {
  /** Lower-cased keyword (`proxyjump`). */
  key: string;
  /** The value as written (`jump.example.org`). */
  value: string;
}

/**
 * Splits one `-o` argument and checks the keyword exists in OpenSSH. The value is
 * checked when `resolveHost` applies it.
 *
 * @example
 * parseOptionArg('ServerAliveInterval=30'); // { key: 'serveraliveinterval', value: '30' }
 * parseOptionArg('ProxyJump jump.example.org');
 */
export function parseOptionArg(arg: string): OptionArg {
  const line = splitLine(arg);
  if (!line || line.rest === '') {
    throw new BurrowError('USAGE', `bad -o option '${arg}'; use -o Key=Value, e.g. -o ServerAliveInterval=30`, {
      phase: 'config',
    });
  }
  if (keywordKind(line.keyword) === 'unknown') {
    throw new BurrowError('CONFIG', `-o option: unknown keyword '${line.keyword}'; see man ssh_config for the names`, {
      phase: 'config',
    });
  }
  return { key: line.keyword, value: line.rest };
}
