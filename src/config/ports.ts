/**
 * Rules for local ports (what the port-forwarding article tells users) and, on Linux,
 * who holds a port that is in use.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { BurrowError } from '../errors.js';

export const USER_PORT_MIN = 1024;
export const USER_PORT_MAX = 49151;

export interface PortCheck {
  /** Set when the port works but is a poor choice. */
  warning?: string;
}

export interface PortCheckOptions {
  /** Whether this process may listen below 1024; default: root, or what the OS allows. */
  mayBindPrivileged?: boolean;
}

/** The first port an unprivileged process may bind on this OS. */
function unprivilegedPortStart(): number {
  if (process.platform === 'win32' || process.platform === 'darwin') return 0; // no restriction (macOS ≥ 10.14)
  if (process.platform === 'linux') {
    try {
      return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    } catch {
      // fall through to the classic limit
    }
  }
  return 1024;
}

/**
 * Checks a local listen port against the usual rules: 0 picks a free one; below 1024
 * needs root (`PORT_PRIVILEGED`); 49152 and up works but collides with ephemeral ports
 * (a warning); above 65535 does not exist (`PORT_OUT_OF_RANGE`).
 *
 * @example
 * const { warning } = checkLocalPort(5555); // fine, no warning
 * checkLocalPort(80); // throws PORT_PRIVILEGED unless root
 */
export function checkLocalPort(port: number, opts: PortCheckOptions = {}): PortCheck {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new BurrowError('PORT_OUT_OF_RANGE', `port ${port} does not exist: ports are 1-65535; pick one in ${USER_PORT_MIN}-${USER_PORT_MAX} or use 0`, {
      phase: 'forward',
      details: { port },
    });
  }
  if (port === 0) return {};
  const mayBind = opts.mayBindPrivileged ?? (process.getuid?.() === 0 || port >= unprivilegedPortStart());
  if (port < USER_PORT_MIN && !mayBind) {
    throw new BurrowError(
      'PORT_PRIVILEGED',
      `port ${port} is a privileged port (below 1024) and only root may listen on it; pick one in ${USER_PORT_MIN}-${USER_PORT_MAX} or use 0`,
      { phase: 'forward', details: { port } },
    );
  }
  if (port > USER_PORT_MAX) {
    return {
      warning: `port ${port} is in the ephemeral range (49152-65535) the OS uses for outgoing connections and may collide with one; prefer ${USER_PORT_MIN}-${USER_PORT_MAX}`,
    };
  }
  return {};
}

export interface PortHolder {
  pid: number;
  command: string;
}

/** Inodes of sockets listening on `port` in a `/proc/net/tcp{,6}` table. */
export function listeningInodes(table: string, port: number): string[] {
  const out: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local || cols[3] !== '0A') continue; // 0A = LISTEN
    const hexPort = local.slice(local.lastIndexOf(':') + 1);
    if (parseInt(hexPort, 16) === port && cols[9] && cols[9] !== '0') out.push(cols[9]);
  }
  return out;
}

async function pidOfInode(inodes: Set<string>): Promise<number | undefined> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1] as string)) return Number(pid);
    }
  }
  return undefined;
}

/**
 * Which process listens on a local TCP port, where the OS can tell (Linux via `/proc`;
 * elsewhere, or when the holder belongs to another user, `undefined`).
 *
 * @example
 * await describePortHolder(5555); // { pid: 4121, command: 'python3' }
 */
export async function describePortHolder(port: number, family?: 4 | 6): Promise<PortHolder | undefined> {
  if (process.platform !== 'linux') return undefined;
  const tables = family === 4 ? ['tcp'] : family === 6 ? ['tcp6'] : ['tcp', 'tcp6'];
  const inodes = new Set<string>();
  for (const t of tables) {
    const text = await readFile(`/proc/net/${t}`, 'utf8').catch(() => '');
    for (const i of listeningInodes(text, port)) inodes.add(i);
  }
  if (inodes.size === 0) return undefined;
  const pid = await pidOfInode(inodes);
  if (pid === undefined) return undefined;
  const command = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
  return { pid, command };
}

/** `PORT_IN_USE` naming the holder when known. */
export async function portInUseError(port: number, bind: string | undefined, cause?: unknown): Promise<BurrowError> {
  const holder = await describePortHolder(port).catch(() => undefined);
  const on = bind ? ` on ${bind}` : '';
  const by = holder ? ` by ${holder.command} (pid ${holder.pid})` : '';
  return new BurrowError('PORT_IN_USE', `port ${port}${on} is in use${by}; pick another or use 0`, {
    phase: 'forward',
    cause,
    details: { port, ...(bind ? { bind } : {}), ...(holder ?? {}) },
  });
}
