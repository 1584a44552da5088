/**
 * Starts a real OpenSSH sshd on a free loopback port with its own config and throwaway
 * keys, for tests and benches. Every file lives in a temp dir removed by `stop()`.
 *
 * @example
 * const sshd = await startSshd();
 * try { ... ssh -F sshd.sshConfigFile test-sshd ... } finally { await sshd.stop(); }
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, existsSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';
/** util-linux's, on every Debian: it gives sshd a parent-death signal (below). */
const SETPRIV = '/usr/bin/setpriv';

export interface SshdOptions {
  /** Extra sshd_config lines (e.g. `Ciphers aes128-gcm@openssh.com`). */
  extraConfig?: string[];
  /** Listen address; default 127.0.0.1. Use `::1` for IPv6. */
  listen?: string;
  /** Create (once) a local user with this password and allow password auth for it. */
  passwordUser?: { name: string; password: string };
}

export interface Sshd {
  host: string;
  port: number;
  /** The user the client key is authorised for (the user running the tests). */
  user: string;
  dir: string;
  clientKeyPath: string;
  clientPublicKey: string;
  hostKeyPath: string;
  /** `ssh-ed25519 AAAA...` of the host key. */
  hostPublicKey: string;
  /** A known_hosts file holding `[host]:port <host key>`. */
  knownHostsFile: string;
  /** An ssh_config with `Host test-sshd` pointing here (key, known_hosts, strict checking). */
  sshConfigFile: string;
  logFile: string;
  log(): string;
  /** Lines of the sshd log that record an authentication attempt (accepted or failed). */
  authAttempts(): string[];
  readonly process: ChildProcess;
  /** SIGKILLs the per-connection sshd processes (the listener stays): "the server vanished". */
  killConnections(): void;
  /** SIGSTOPs the per-connection sshd processes (a frozen server: it reads nothing); returns how many. */
  freezeConnections(): number;
  /** SIGCONTs what `freezeConnections` stopped. */
  thawConnections(): void;
  /** Stops sshd and every session it serves, keeping its files: the server is gone until restart(). */
  pause(): Promise<void>;
  /** Starts sshd again on the same port with the same keys (after pause(), or as a restart). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** PIDs of every descendant of `pid`, from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function keygen(path: string, opts: { type?: string; passphrase?: string; comment?: string } = {}): string {
  execFileSync(SSH_KEYGEN, ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'burrow-test', '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function ensurePasswordUser(name: string, password: string): void {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  }
  execFileSync('chpasswd', [], { input: `${name}:${password}\n` });
}

async function waitForBanner(host: string, port: number, proc: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) {
      throw new Error(`sshd exited with ${proc.exitCode}: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('SSH-2.0'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('sshd did not start');
}

/** The process that made a dir, and owns it until its `stop()`. */
const OWNER_FILE = 'owner.pid';

/**
 * Removes the dirs that no `stop()` will remove: their owner (a test file killed by the
 * runner) is gone. A paused sshd's dir has a live owner and stays; so does a dir with no
 * owner file yet, being made by another file.
 */
function sweepStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('burrow-sshd-')) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue;
    }
    if (!(owner > 0) || alive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Running: a zombie (dead, not yet reaped by init) is not. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server`);
  sweepStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), 'burrow-sshd-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const host = opts.listen ?? '127.0.0.1';
  const user = userInfo().username;
  const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
  const hostPublicKey = keygen(hostKeyPath, { comment: 'host' });
  const clientKeyPath = join(dir, 'id_ed25519');
  const clientPublicKey = keygen(clientKeyPath, { comment: 'client' });
  writeFileSync(join(dir, 'authorized_keys'), clientPublicKey + '\n', { mode: 0o644 });
  if (opts.passwordUser) ensurePasswordUser(opts.passwordUser.name, opts.passwordUser.password);
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const port = await freePort(host);
  const logFile = join(dir, 'sshd.log');
  // sshd takes the first value of a keyword: extra lines go first so they win.
  const config = [
    ...(opts.extraConfig ?? []),
    `Port ${port}`,
    `ListenAddress ${host}`,
    `HostKey ${hostKeyPath}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin yes',
    `PasswordAuthentication ${opts.passwordUser ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'StreamLocalBindUnlink yes',
    'GatewayPorts no',
    'PermitTunnel no',
    'X11Forwarding no',
    'PrintMotd no',
    'LogLevel VERBOSE',
    'MaxStartups 1000:30:2000',
    'MaxSessions 100',
    'ClientAliveInterval 0',
  ];
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, config.join('\n') + '\n');
  const launch = async () => {
    // Should this process die without stopping sshd (a test file killed by the runner, a
    // bench interrupted), the kernel kills sshd, so no listener outlives it, and the next
    // start removes the dir (sweepStaleDirs). setpriv execs sshd: the pid stays sshd's.
    const argv = [SSHD, '-D', '-e', '-f', configFile, '-E', logFile];
    const p = existsSync(SETPRIV) ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', ...argv], { stdio: 'ignore' }) : spawn(SSHD, argv.slice(1), { stdio: 'ignore' });
    p.on('error', () => {});
    await waitForBanner(host, port, p, logFile);
    return p;
  };
  let proc = await launch();
  const terminate = async () => {
    // Sessions outlive sshd's listener: end them too, so nothing is left behind.
    if (proc.pid) killAll(descendants(proc.pid), 'SIGKILL');
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  };

  const hostPattern = port === 22 ? host : `[${host}]:${port}`;
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `${hostPattern} ${hostPublicKey.split(' ').slice(0, 2).join(' ')}\n`, { mode: 0o600 });
  const sshConfigFile = join(dir, 'ssh_config');
  writeFileSync(
    sshConfigFile,
    [
      'Host test-sshd',
      `  HostName ${host}`,
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${clientKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHostsFile}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '',
    ].join('\n'),
  );

  let stopped = false;
  let frozen: number[] = [];
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  return {
    host,
    port,
    user,
    dir,
    clientKeyPath,
    clientPublicKey,
    hostKeyPath,
    hostPublicKey,
    knownHostsFile,
    sshConfigFile,
    logFile,
    log,
    authAttempts: () =>
      log()
        .split('\n')
        .filter((l) => /(Accepted|Failed) (publickey|password|keyboard-interactive)/.test(l)),
    get process() {
      return proc;
    },
    killConnections() {
      if (!proc.pid) return;
      // Freeze them all first: killed one by one, a session's privsep child could see
      // its monitor die and close the channels cleanly before its own SIGKILL lands,
      // which is a polite goodbye, not a server that vanished.
      const pids = descendants(proc.pid);
      killAll(pids, 'SIGSTOP');
      killAll(pids, 'SIGKILL');
    },
    freezeConnections() {
      frozen = proc.pid ? descendants(proc.pid) : [];
      killAll(frozen, 'SIGSTOP');
      return frozen.length;
    },
    thawConnections() {
      killAll(frozen, 'SIGCONT');
      frozen = [];
    },
    async pause() {
      await terminate();
    },
    async restart() {
      await terminate();
      proc = await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
