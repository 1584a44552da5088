/**
 * `%` tokens, `${ENV}` and `~` in ssh_config values, as OpenSSH expands them
 * (misc.c `percent_dollar_expand`, `tilde_expand`; ssh.c connection info).
 */
import { createHash } from 'node:crypto';
import { BurrowError } from '../../errors.js';

/** Token letter → replacement. */
export type TokenMap = Readonly<Record<string, string>>;

function tokenError(what: string, value: string, why: string): BurrowError {
  return new BurrowError('CONFIG', `${what} '${value}': ${why}`, { phase: 'config', details: { value } });
}

/**
 * Replaces `%x` tokens from `tokens` (and `%%`), and `${VAR}` from `env` when given.
 * An unknown token or an unset variable is a `CONFIG` error, as in ssh.
 */
export function expandTokens(value: string, tokens: TokenMap, what: string, env?: NodeJS.ProcessEnv): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (env && c === '$' && value[i + 1] === '{') {
      const end = value.indexOf('}', i + 2);
      if (end < 0) throw tokenError(what, value, "'${' without a closing '}'");
      const name = value.slice(i + 2, end);
      if (name === '') throw tokenError(what, value, 'empty ${} variable');
      const v = env[name];
      if (v === undefined) throw tokenError(what, value, `environment variable ${name} is not set`);
      out += v;
      i = end;
      continue;
    }
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = value[++i];
    if (t === '%') out += '%';
    else if (t === undefined) throw tokenError(what, value, "a lone '%' at the end; write %% for a percent sign");
    else if (Object.hasOwn(tokens, t)) out += tokens[t];
    else {
      const known = ['%%', ...Object.keys(tokens).map((k) => `%${k}`)].join(' ');
      throw tokenError(what, value, `unknown token %${t}; ${what} accepts ${known}`);
    }
  }
  return out;
}

/** Resolves `~user` to a home directory; undefined when there is no such user. */
export type HomeLookup = (user: string) => string | undefined;

/** `~`, `~/path` and `~user/path` (OpenSSH `tilde_expand`). */
export function expandTilde(path: string, home: string, lookup: HomeLookup): string {
  if (!path.startsWith('~')) return path;
  const slash = path.indexOf('/');
  const user = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const rest = slash < 0 ? '' : path.slice(slash).replace(/^\/+/, '');
  let dir = home;
  if (user !== '') {
    const d = lookup(user);
    if (d === undefined) throw tokenError('path', path, `no such user ${user}`);
    dir = d;
  }
  return dir.endsWith('/') ? dir + rest : `${dir}/${rest}`;
}

/** `%C`: SHA-1 over local host, remote host, port and remote user (OpenSSH 9.x before 9.6). */
export function connectionHash(localHost: string, host: string, port: number, user: string): string {
  return createHash('sha1').update(`${localHost}${host}${port}${user}`).digest('hex');
}

export interface ConnectionInfo {
  /** `%l`: the local host name (`gethostname`). */
  localHost: string;
  /** `%h`: the remote host name after HostName. */
  host: string;
  /** `%n`: the destination as given. */
  alias: string;
  port: number;
  /** `%r` */
  user: string;
  /** `%u` */
  localUser: string;
  /** `%d` */
  homeDir: string;
  /** `%i` */
  uid: number;
  hostKeyAlias?: string;
}

/** The tokens of IdentityFile, UserKnownHostsFile, ControlPath... (ssh's default set). */
export function clientTokens(c: ConnectionInfo): TokenMap {
  return {
    C: connectionHash(c.localHost, c.host, c.port, c.user),
    L: c.localHost.split('.')[0] as string,
    i: String(c.uid),
    k: c.hostKeyAlias ?? c.alias,
    l: c.localHost,
    n: c.alias,
    p: String(c.port),
    d: c.homeDir,
    h: c.host,
    r: c.user,
    u: c.localUser,
  };
}

/** The tokens of ProxyCommand. */
export function proxyCommandTokens(c: ConnectionInfo): TokenMap {
  return { h: c.host, k: c.hostKeyAlias ?? c.alias, n: c.alias, p: String(c.port), r: c.user };
}
