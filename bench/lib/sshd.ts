/**
 * A throwaway OpenSSH server for the bench: its own config, host key, client key
 * and known_hosts in a temporary directory; root logs in with the client key only.
 */
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup, runOk, startDaemon, type Daemon } from './proc.js';

export interface SshdOptions {
  /** Address sshd listens on (127.0.0.1 or an address inside a bench namespace). */
  addr: string;
  port: number;
  /** Command prefix to run sshd in a namespace, e.g. `['nsenter', '-t', pid, '-n']`. */
  prefix?: string[];
  /** sshd's LogLevel (default INFO); its log is `Sshd.log()`. */
  logLevel?: string;
}

export interface Sshd {
  readonly addr: string;
  readonly port: number;
  readonly dir: string;
  readonly pid: number;
  readonly clientKey: string;
  readonly knownHosts: string;
  /** What sshd has logged so far (its first 64 KiB). */
  log(): string;
  /** Writes an ssh_config with `Host bench` for this server and the given cipher; returns its path. */
  clientConfig(cipher: string): Promise<string>;
  stop(): Promise<void>;
}

/** The host alias every client config defines. */
export const BENCH_HOST = 'bench';

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  // sshd run as root wants its privilege-separation directory, which Debian's package
  // makes only when its service starts (and the service is not started here).
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), 'burrowbench-sshd-'));
  const removeDir = onCleanup(() => rm(dir, { recursive: true, force: true }));
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'id_ed25519');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-host', '-f', hostKey]);
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-client', '-f', clientKey]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`));
  const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[${opts.addr}]:${opts.port} ${hostPub}\n`);
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${opts.port}`,
      `ListenAddress ${opts.addr}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
      'AllowStreamLocalForwarding yes',
      'GatewayPorts no',
      'PrintMotd no',
      'UseDNS no',
      'MaxStartups 1000:30:2000',
      'MaxSessions 1000',
      `LogLevel ${opts.logLevel ?? 'INFO'}`,
      '',
    ].join('\n'),
  );
  const prefix = opts.prefix ?? [];
  const argv = [...prefix, '/usr/sbin/sshd', '-D', '-e', '-f', config];
  const daemon: Daemon = await startDaemon(argv[0] as string, argv.slice(1), {
    ready: /Server listening on/,
  });
  const stop = async (): Promise<void> => {
    await daemon.stop();
    removeDir();
    await rm(dir, { recursive: true, force: true });
  };
  return {
    addr: opts.addr,
    port: opts.port,
    dir,
    pid: daemon.pid,
    clientKey,
    knownHosts,
    log: () => daemon.stderr(),
    async clientConfig(cipher: string): Promise<string> {
      const path = join(dir, `ssh_config.${cipher.replace(/[^a-z0-9]/gi, '_')}`);
      await writeFile(
        path,
        [
          `Host ${BENCH_HOST}`,
          `  HostName ${opts.addr}`,
          `  Port ${opts.port}`,
          '  User root',
          `  IdentityFile ${clientKey}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${knownHosts}`,
          '  GlobalKnownHostsFile /dev/null',
          '  StrictHostKeyChecking yes',
          '  BatchMode yes',
          `  Ciphers ${cipher}`,
          '  Compression no',
          '  ControlMaster no',
          '  ControlPath none',
          '  ExitOnForwardFailure yes',
          '  LogLevel ERROR',
          '',
        ].join('\n'),
      );
      return path;
    },
    stop,
  };
}
