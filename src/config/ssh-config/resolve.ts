/**
 * `resolveHost`: what `ssh -G destination` computes, for the settings burrow uses.
 * Order as in ssh: command-line options, config files (first value wins), HostName
 * applied, an optional final pass, then defaults and token expansion.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { BurrowError } from '../../errors.js';
import type { ResolvedHost } from '../types.js';
import { isValidHostname, isValidRemoteUser, parseDestination } from './destination.js';
import { assembleAlgorithms } from './algorithms.js';
import { emptyOptions, type RawOptions } from './options.js';
import { applyCommandLineOption, readConfigFile, type PassContext } from './reader.js';
import { clientTokens, expandTilde, expandTokens, proxyCommandTokens, type ConnectionInfo, type HomeLookup } from './tokens.js';
import { configError } from './values.js';

export interface ResolveOptions {
  /** `-F file`; default `~/.ssh/config` then the system config. `none` reads no file. */
  configFile?: string;
  /** `-o` options (`Key=Value` or `Key Value`), applied before any file: their values win. */
  options?: string[];
  /** `-l` */
  user?: string;
  /** `-p` */
  port?: number;
  /**
   * `-i`, added before the files from config. Kept even when a file does not exist
   * (ssh warns and drops it); loading reports it then.
   */
  identityFiles?: string[];
  /** Default `os.homedir()`: `~`, `%d` and where `~/.ssh/config` is. */
  homeDir?: string;
  /** Default `os.userInfo().username`: `%u`, `Match localuser`, the default user. */
  localUser?: string;
  /** The system-wide config read after the user's when no `configFile` is given; default `/etc/ssh/ssh_config`. */
  systemConfigFile?: string;
  /** `%l` / `%L`; default `os.hostname()`. */
  localHostname?: string;
  /** For `${VAR}` in IdentityFile and UserKnownHostsFile; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map(
  (f) => `~/.ssh/${f}`,
);

function localAccount(): { username: string; uid: number } {
  try {
    const u = os.userInfo();
    return { username: u.username, uid: u.uid };
  } catch {
    return { username: process.env.USER ?? process.env.USERNAME ?? 'unknown', uid: -1 };
  }
}

function passwdLookup(localUser: string, homeDir: string): HomeLookup {
  return (user) => {
    if (user === localUser) return homeDir;
    try {
      const line = readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${user}:`));
      return line?.split(':')[5];
    } catch {
      return undefined;
    }
  };
}

/** Where OpenSSH keeps the system-wide client config (Win32-OpenSSH: %PROGRAMDATA%\ssh). */
function defaultSystemConfig(): string {
  if (process.platform === 'win32') return join(process.env.PROGRAMDATA ?? 'C:\\ProgramData', 'ssh', 'ssh_config');
  return '/etc/ssh/ssh_config';
}

async function readFiles(ctx: PassContext, opts: ResolveOptions): Promise<void> {
  if (opts.configFile !== undefined) {
    if (opts.configFile.toLowerCase() === 'none') return;
    if (!(await readConfigFile(opts.configFile, ctx, true))) {
      throw configError({ file: opts.configFile, line: 0 }, 'config file not found; check the -F path');
    }
    return;
  }
  await readConfigFile(join(ctx.homeDir, '.ssh', 'config'), ctx, true);
  await readConfigFile(opts.systemConfigFile ?? defaultSystemConfig(), ctx, false);
}

function commandLine(o: RawOptions, opts: ResolveOptions, dest: { user?: string; port?: number }): void {
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 1 && opts.port <= 65535)) {
    throw new BurrowError('USAGE', `bad port ${opts.port} for -p; use a number from 1 to 65535`, { phase: 'config' });
  }
  o.user ??= opts.user ?? dest.user;
  o.port ??= opts.port ?? dest.port;
  for (const path of opts.identityFiles ?? []) {
    if (!o.identityFiles.some((f) => f.path === path && f.userProvided)) o.identityFiles.push({ path, userProvided: true });
  }
}

/** As ssh: names from the command line end up in `%h`/`%r`, so no shell metacharacters. */
function checkCommandLine(host: string, user: string | undefined): void {
  const refuse = (what: string, where: string): BurrowError =>
    new BurrowError(
      'USAGE',
      `${what} contains characters ssh does not allow (whitespace, quotes, shell metacharacters, a leading -); check ${where}`,
      { phase: 'config' },
    );
  if (!isValidHostname(host)) throw refuse(`host name '${host}'`, 'the destination');
  if (user !== undefined && !isValidRemoteUser(user)) throw refuse(`user name '${user}'`, '-l, -o User or user@');
}

/**
 * Resolves the OpenSSH client configuration for a destination, as `ssh -G` does:
 * `Host`/`Match` blocks (including the final pass), `Include`, `-o`/`-l`/`-p`/`-i`
 * overrides, defaults, and `~`/`%` token expansion. Nothing is connected or looked up
 * in DNS. Bad keywords and values throw `BurrowError` `CONFIG` naming file and line.
 *
 * @example
 * const h = await resolveHost('mahuika');
 * // { alias: 'mahuika', hostname: 'login.mahuika.nesi.org.nz', user: 'cwal219', port: 22,
 * //   proxyCommand: 'ssh -W login.mahuika.nesi.org.nz:22 lander',
 * //   localForwards: ['6676 mahuika:6676'], unsupported: ['forwardx11', 'forwardx11trusted'], ... }
 * const j = await resolveHost('ssh://me@example.org:2222', { options: ['ProxyJump=jump'], configFile: 'none' });
 */
export async function resolveHost(destination: string, opts: ResolveOptions = {}): Promise<ResolvedHost> {
  const account = localAccount();
  const localUser = opts.localUser ?? account.username;
  const homeDir = opts.homeDir ?? os.homedir();
  const env = opts.env ?? process.env;
  const dest = parseDestination(destination);
  const alias = dest.host;
  const ctx: PassContext = {
    options: emptyOptions(),
    host: alias,
    originalHost: alias,
    localUser,
    homeDir,
    lookupHome: passwdLookup(localUser, homeDir),
    finalPass: false,
    wantsFinal: false,
    files: [],
  };
  for (const o of opts.options ?? []) await applyCommandLineOption(o, ctx);
  commandLine(ctx.options, opts, dest);
  checkCommandLine(alias, ctx.options.user);
  await readFiles(ctx, opts);

  const o = ctx.options;
  let host = o.hostname === undefined ? alias : expandTokens(o.hostname, { h: alias }, 'HostName');
  if (isIP(host) === 0) host = host.toLowerCase();
  if (ctx.wantsFinal || o.canonicalizeHostname === true) {
    // As ssh: the final pass matches Host patterns against the resolved name.
    o.hostname = host;
    ctx.host = host;
    ctx.finalPass = true;
    await readFiles(ctx, opts);
  }
  const resolved = finish(o, { alias, host, localUser, homeDir, env, lookup: ctx.lookupHome, uid: account.uid, opts });
  return { ...resolved, configFiles: [...new Set(ctx.files)] };
}

interface FinishInput {
  alias: string;
  host: string;
  localUser: string;
  homeDir: string;
  env: NodeJS.ProcessEnv;
  lookup: HomeLookup;
  uid: number;
  opts: ResolveOptions;
}

function finish(o: RawOptions, f: FinishInput): ResolvedHost {
  const user = o.user ?? f.localUser;
  const port = o.port ?? 22;
  const hostKeyAlias = o.hostKeyAlias?.toLowerCase();
  const conn: ConnectionInfo = {
    localHost: f.opts.localHostname ?? os.hostname(),
    host: f.host,
    alias: f.alias,
    port,
    user,
    localUser: f.localUser,
    homeDir: f.homeDir,
    uid: f.uid,
    ...(hostKeyAlias !== undefined && { hostKeyAlias }),
  };
  const tokens = clientTokens(conn);
  const path = (p: string, what: string): string => expandTokens(expandTilde(p, f.homeDir, f.lookup), tokens, what, f.env);
  const explicit = o.identityFiles.length > 0;
  const identities = explicit ? o.identityFiles.map((i) => i.path) : DEFAULT_IDENTITIES;
  const known = o.userKnownHostsFiles ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
  const global = o.globalKnownHostsFiles ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
  const none = (l: string[]): boolean => l[0]?.toLowerCase() === 'none';
  const set = (v: string | undefined): string | undefined => (v === undefined || v.toLowerCase() === 'none' ? undefined : v);
  const proxyJump = set(o.proxyJump);
  const proxyCommand = proxyJump === undefined ? set(o.proxyCommand) : undefined;
  const clear = o.clearAllForwardings === true;
  return {
    alias: f.alias,
    hostname: f.host,
    user,
    port,
    identityFiles: identities.filter((i) => i.toLowerCase() !== 'none').map((i) => path(i, 'IdentityFile')),
    identityFilesExplicit: explicit,
    identitiesOnly: o.identitiesOnly ?? false,
    ...(proxyCommand !== undefined && {
      proxyCommand: expandTokens(proxyCommand, proxyCommandTokens(conn), 'ProxyCommand'),
    }),
    ...(proxyJump !== undefined && { proxyJump }),
    localForwards: clear ? [] : o.localForwards.map((x) => x.raw),
    remoteForwards: clear ? [] : o.remoteForwards.map((x) => x.raw),
    dynamicForwards: clear ? [] : o.dynamicForwards.map((x) => x.raw),
    exitOnForwardFailure: o.exitOnForwardFailure ?? false,
    serverAliveInterval: o.serverAliveInterval ?? 0,
    serverAliveCountMax: o.serverAliveCountMax ?? 3,
    strictHostKeyChecking: o.strictHostKeyChecking ?? 'ask',
    userKnownHostsFiles: none(known) ? [] : known.map((k) => path(k, 'UserKnownHostsFile')),
    globalKnownHostsFiles: none(global) ? [] : global,
    ...(hostKeyAlias !== undefined && { hostKeyAlias }),
    gatewayPorts: o.gatewayPorts ?? false,
    ...(o.connectTimeout !== undefined && { connectTimeout: o.connectTimeout }),
    addressFamily: o.addressFamily ?? 'any',
    batchMode: o.batchMode ?? false,
    ...(o.ciphers !== undefined && { ciphers: assembleAlgorithms('cipher', o.ciphers) }),
    ...(o.macs !== undefined && { macs: assembleAlgorithms('mac', o.macs) }),
    ...(o.kexAlgorithms !== undefined && { kexAlgorithms: assembleAlgorithms('kex', o.kexAlgorithms) }),
    unsupported: o.unsupported,
  };
}
