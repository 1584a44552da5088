/**
 * The article's `ProxyCommand ssh -W %h:%p lander` is ProxyJump written the old way.
 * Run as a child, that ssh would ask for lander's password and one-time code itself,
 * retry a wrong one (it asks three times) and need a new login on every reconnect. Recognised
 * here, it becomes a native hop: one login, shared, supervised, never retried.
 */
import { basename } from 'node:path';
import type { ResolvedHost } from '../config/types.js';

/**
 * The ProxyJump hop equivalent to the config's ProxyCommand, or undefined when the
 * command is anything but a plain `ssh [-q] [-l user] [-p port] -W host:port jumphost`
 * aimed at this destination.
 */
export function jumpFromProxyCommand(cfg: ResolvedHost): string | undefined {
  const cmd = cfg.proxyCommand;
  if (!cmd || /["'`$\\|;&<>()]/.test(cmd)) return undefined;
  const words = cmd.trim().split(/\s+/);
  const prog = words.shift();
  if (!prog || basename(prog) !== 'ssh') return undefined;
  let target: string | undefined;
  let user: string | undefined;
  let port: string | undefined;
  let host: string | undefined;
  while (words.length > 0) {
    const w = words.shift() as string;
    if (w === '-q') continue;
    if (w === '-W') target = words.shift();
    else if (w === '-l') user = words.shift();
    else if (w === '-p') port = words.shift();
    else if (w.startsWith('-')) return undefined;
    else if (host === undefined) host = w;
    else return undefined; // a remote command: not a plain -W
  }
  if (!host || !target) return undefined;
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
  if (!m || m[1] !== cfg.hostname || Number(m[2]) !== cfg.port) return undefined;
  if (port !== undefined && !/^\d+$/.test(port)) return undefined;
  return `${user ? `${user}@` : ''}${host}${port ? `:${port}` : ''}`;
}
