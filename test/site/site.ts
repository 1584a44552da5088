// The HPC test site in network namespaces (see docs/test-site.md):
//
//   laptop 10.201.1.10 ── lander 10.201.1.1 | 10.201.2.1 ── login "mahuika" 10.201.2.10
//                                                           └ br0 10.201.3.1 ── c1 10.201.3.11
//                                                                            └─ c2 10.201.3.12
//
// One named netns per node (burrow-<node>), one long-lived holder process per node
// (`unshare --mount --uts` inside the netns) that owns the node's bind mounts and hostname;
// every command enters it with `nsenter -t HOLDER -n -m -u`. Nothing on the host is edited
// apart from creating the test user. Only one site exists at a time (flock on
// /run/burrow-test-site.lock), leftovers of a crashed run are removed at the next start.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pty, type PtyOptions } from '../helpers/pty.js';
import {
  ADDR,
  CLUSTER_NODES,
  HOSTNAMES,
  NODES,
  PASSWORD_PROMPT,
  SSHD_NODES,
  TOTP_PROMPT,
  base32,
  cgroupConf,
  clusterSshConfig,
  googleAuthenticatorFile,
  hostsFile,
  landerPam,
  laptopSshConfig,
  slurmConf,
  sshdConfig,
  type NodeName,
  type Proctrack,
} from './files.js';
import {
  endProcs,
  isAlive,
  must,
  nsInode,
  nsOf,
  procId,
  procsInNetns,
  run,
  sleep,
  type ProcId,
  type RunResult,
} from './proc.js';

export { ADDR, HOSTNAMES, NODES, PASSWORD_PROMPT, TOTP_PROMPT, type NodeName, type Proctrack, type RunResult };

export interface SiteOptions {
  /**
   * Slurm's ProctrackType: 'cgroup' (default, the usual production setting: a job's
   * `ssh -f` dies with the job) or 'linuxproc' (`ssh -f` escapes the job).
   */
  proctrack?: Proctrack;
}

export const TEST_USER = 'burrowtest';
export const TEST_PASSWORD = 'burrow-Test-pw-7';
export const NETNS_PREFIX = 'burrow-';
export const LOCK_FILE = '/run/burrow-test-site.lock';
const STATE_FILE = '/run/burrow-test-site.state.json';
const TMP_PREFIX = 'burrow-site-';
const USER_HOME = `/home/${TEST_USER}`;
/** This repository on the host, and where the laptop node sees it. */
export const REPO_ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const REPO_IN_LAPTOP = '/run/burrow-repo';
/** A directory first on PATH in every node; holds `node` (the host's process.execPath). */
export const BIN_IN_NODES = '/run/burrow-bin';

/** What each package provides; a missing file makes startSite throw naming the package. */
const REQUIRED: ReadonlyArray<[string, string]> = [
  ['/usr/sbin/ip', 'iproute2'],
  ['/usr/bin/unshare', 'util-linux'],
  ['/usr/bin/nsenter', 'util-linux'],
  ['/usr/bin/setpriv', 'util-linux'],
  ['/usr/bin/flock', 'util-linux'],
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/ssh', 'openssh-client'],
  ['/usr/bin/ssh-keygen', 'openssh-client'],
  ['/usr/sbin/munged', 'munge'],
  ['/usr/sbin/slurmctld', 'slurm-wlm (slurmctld)'],
  ['/usr/sbin/slurmd', 'slurm-wlm (slurmd)'],
  ['/usr/bin/sbatch', 'slurm-wlm (slurm-client)'],
  ['/usr/bin/oathtool', 'oathtool'],
  ['/usr/sbin/useradd', 'passwd'],
  ['/usr/sbin/chpasswd', 'passwd'],
];
const PAM_GA_PATHS = [
  '/lib/x86_64-linux-gnu/security/pam_google_authenticator.so',
  '/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so',
  '/lib/aarch64-linux-gnu/security/pam_google_authenticator.so',
  '/usr/lib/aarch64-linux-gnu/security/pam_google_authenticator.so',
  '/lib/security/pam_google_authenticator.so',
];

/** Throws (so tests FAIL, not skip) when not root or when a package is missing. */
export function preflight(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('the namespace test site needs root (CI runs as root)');
  }
  const missing = REQUIRED.filter(([p]) => !existsSync(p)).map(([p, pkg]) => `${p} (package ${pkg})`);
  if (!PAM_GA_PATHS.some((p) => existsSync(p))) {
    missing.push('pam_google_authenticator.so (package libpam-google-authenticator)');
  }
  if (!existsSync('/sys/fs/cgroup/freezer')) missing.push('/sys/fs/cgroup/freezer (cgroup v1 freezer)');
  if (missing.length) throw new Error(`test site prerequisites missing: ${missing.join(', ')}`);
}

export interface ExecOptions {
  /** Run as this user (the test user when `true`); default root. */
  user?: string | boolean;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Working directory inside the node; default the user's home (root: /). */
  cwd?: string;
  timeoutMs?: number;
}

export interface SpawnOpts {
  user?: string | boolean;
  env?: Record<string, string>;
  cwd?: string;
  stdio?: 'pipe' | 'inherit' | 'ignore';
}

export interface Homes {
  laptop: string;
  lander: string;
  cluster: string;
}

export interface AuthCounts {
  accepted: number;
  failed: number;
}

/** A command line that enters a node, for spawners other than child_process (node-pty). */
export interface NodeCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

interface NodeState {
  name: NodeName;
  netns: string;
  dir: string;
  holder: ProcId;
  daemons: Map<string, ProcId>;
}

interface StateFile {
  tmp: string;
  owner: number;
}

// ---------------------------------------------------------------------------------------
// Lock + watchdog: a detached `flock` child holds /run/burrow-test-site.lock while its stdin
// is open. stop() tells it "stopped" and it exits, releasing the lock. If this process dies
// first (crash, SIGKILL, runner timeout), stdin reaches EOF without "stopped": the watchdog
// then removes the site (every process in the site's namespaces, the namespaces, the temp
// dir) before it releases the lock. startSite() also cleans up, in case the watchdog died.

interface Lock {
  release(): Promise<void>;
  /** Tells the watchdog which temp dir to remove should this process die. */
  setTmp(path: string): void;
}

function watchdogScript(): string {
  const nss = SITE_NETNS.join(' ');
  return [
    'echo locked',
    'exec >/dev/null 2>&1',
    'tmp=',
    'while read -r cmd arg; do',
    '  case "$cmd" in',
    '    tmp) tmp="$arg" ;;',
    '    stopped) exit 0 ;;',
    '  esac',
    'done',
    `for ns in ${nss}; do`,
    '  [ -e "/run/netns/$ns" ] || continue',
    '  pids=$(ip netns pids "$ns")',
    '  [ -n "$pids" ] && kill -9 $pids',
    'done',
    'sleep 0.3',
    `for ns in ${nss}; do`,
    '  pids=$(ip netns pids "$ns" 2>/dev/null)',
    '  [ -n "$pids" ] && kill -9 $pids',
    '  ip netns del "$ns"',
    'done',
    `case "$tmp" in */${TMP_PREFIX}*) rm -rf "$tmp"; rm -f ${STATE_FILE} ;; esac`,
    'for d in /sys/fs/cgroup/*/slurm_c1 /sys/fs/cgroup/*/slurm_c2; do',
    '  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} +',
    'done',
    'exit 0',
  ].join('\n');
}

async function acquireLock(timeoutMs = 1_800_000): Promise<Lock> {
  const child = spawn('/usr/bin/flock', ['-x', '-w', String(Math.ceil(timeoutMs / 1000)), LOCK_FILE, '/bin/sh', '-c', watchdogScript()], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: a Ctrl-C to the tests does not kill the watchdog
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('locked')) resolve();
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`could not lock ${LOCK_FILE} (flock exited ${code}): ${err.trim()}`)));
  });
  child.removeAllListeners('exit');
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  child.stdin.on('error', () => undefined);
  return {
    setTmp: (path) => {
      child.stdin.write(`tmp ${path}\n`);
    },
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.ref(); // keep the event loop alive until the lock is really released
        child.once('exit', () => resolve());
        child.stdin.end('stopped\n');
      }),
  };
}

// ---------------------------------------------------------------------------------------
// Cleanup of a crashed previous run (caller holds the lock).

/** The site's namespace names: `burrow-laptop`, `burrow-lander`, `burrow-login`, `burrow-c1`, `burrow-c2`. */
export const SITE_NETNS: readonly string[] = NODES.map((n) => `${NETNS_PREFIX}${n}`);

/**
 * Site namespaces present now. Only the site's own names: other tests' namespaces
 * (e.g. bench's `burrowbench-*`, or anything else someone names `burrow-…`) are not ours
 * to remove.
 */
function leftoverNetns(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => SITE_NETNS.includes(n));
  } catch {
    return [];
  }
}

async function removeNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const inodes = new Set<number>();
  for (const n of names) {
    const ino = nsInode(`/run/netns/${n}`);
    if (ino !== undefined) inodes.add(ino);
  }
  // Everything inside our namespaces belongs to the site: end it by PID (+ start time).
  for (let round = 0; round < 3; round++) {
    const procs = procsInNetns(inodes);
    if (procs.length === 0) break;
    await endProcs(procs, round === 0 ? 300 : 0);
  }
  const r = await run('/usr/sbin/ip', ['-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join('') });
  if (r.code !== 0) {
    // -batch stops at the first error: retry one by one and ignore the ones already gone.
    for (const n of names) await run('/usr/sbin/ip', ['netns', 'del', n]);
  }
}

function removeSlurmCgroups(nodes: readonly string[]): void {
  let controllers: string[];
  try {
    controllers = readdirSync('/sys/fs/cgroup');
  } catch {
    return;
  }
  const rmTree = (dir: string): void => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const e of entries) rmTree(join(dir, e));
    try {
      rmdirSync(dir);
    } catch {
      // not empty (processes still inside) or already gone
    }
  };
  for (const c of controllers) {
    for (const n of nodes) {
      const d = join('/sys/fs/cgroup', c, `slurm_${n}`);
      if (existsSync(d)) rmTree(d);
    }
  }
}

export async function cleanupLeftovers(): Promise<void> {
  await removeNamespaces(leftoverNetns());
  try {
    const st = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StateFile;
    if (st.tmp.startsWith(join(tmpdir(), TMP_PREFIX))) rmSync(st.tmp, { recursive: true, force: true });
    unlinkSync(STATE_FILE);
  } catch {
    // no state file
  }
  for (const n of readdirSync(tmpdir())) {
    if (n.startsWith(TMP_PREFIX)) rmSync(join(tmpdir(), n), { recursive: true, force: true });
  }
  removeSlurmCgroups(['c1', 'c2']);
}

// ---------------------------------------------------------------------------------------

interface UserIds {
  uid: number;
  gid: number;
}

export function passwdIds(user: string): UserIds | undefined {
  for (const line of readIf('/etc/passwd').split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 7) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

async function ensureUser(): Promise<UserIds> {
  if (!passwdIds(TEST_USER)) {
    await must('/usr/sbin/useradd', ['--create-home', '--shell', '/bin/bash', '--user-group', TEST_USER]);
  }
  const ids = passwdIds(TEST_USER);
  if (!ids) throw new Error(`test site: could not create user ${TEST_USER}`);
  const { uid, gid } = ids;
  if (!existsSync(USER_HOME)) {
    mkdirSync(USER_HOME, { mode: 0o700 });
    chownSync(USER_HOME, uid, gid);
  }
  return { uid, gid };
}

async function keygen(path: string, comment: string): Promise<string> {
  await must('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function writeOwned(path: string, text: string | Buffer, mode: number, uid: number, gid: number): void {
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  chownSync(path, uid, gid);
}

function mkdirOwned(path: string, mode: number, uid = 0, gid = 0): string {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  chownSync(path, uid, gid);
  return path;
}

function listeningPorts(holderPid: number): Set<number> {
  const ports = new Set<number>();
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${holderPid}/net/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue;
      const port = parseInt((cols[1] ?? '').split(':')[1] ?? '', 16);
      if (!Number.isNaN(port)) ports.add(port);
    }
  }
  return ports;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, diag?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`test site: timed out waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await sleep(25);
  }
}

let lastMark = Date.now();
function mark(what: string): void {
  if (process.env.BURROW_SITE_DEBUG) console.error(`[site] ${what} +${Date.now() - lastMark} ms`);
  lastMark = Date.now();
}

function readIf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export class Site {
  readonly user = TEST_USER;
  readonly password = TEST_PASSWORD;
  readonly addr = ADDR;
  readonly hostnames = HOSTNAMES;
  readonly totpSecret: string;
  readonly homes: Homes;
  readonly hostKeys: Record<string, string> = {};
  /** Public key of the laptop user (authorised on login and compute nodes). */
  laptopUserKey = '';
  private readonly nodes = new Map<NodeName, NodeState>();
  private readonly children = new Set<ChildProcess>();
  private readonly ptys = new Set<Pty>();
  /** How long startSite() waited for the lock, and how long bring-up took after it. */
  timings = { lockWaitMs: 0, upMs: 0 };
  private stopped = false;
  private netInodes = new Set<number>();

  constructor(
    readonly tmp: string,
    private readonly ids: UserIds,
    private readonly lock: Lock,
    readonly options: SiteOptions = {},
  ) {
    this.totpSecret = base32(randomBytes(20));
    this.homes = {
      laptop: join(tmp, 'homes', 'laptop'),
      lander: join(tmp, 'homes', 'lander'),
      cluster: join(tmp, 'homes', 'cluster'),
    };
  }

  // ---- bring-up -----------------------------------------------------------------------

  /** Internal: writes every file, creates namespaces and links, starts daemons. */
  async build(): Promise<void> {
    // Namespaces, links and holders come up while the files are written.
    const net = (async () => {
      await this.createNetwork();
      await Promise.all(NODES.map((n) => this.startHolder(n)));
      mark('network+holders');
    })();
    // The known password (the user may come from an earlier run with the same password).
    const pw = must('/usr/sbin/chpasswd', [], { input: `${TEST_USER}:${TEST_PASSWORD}\n` });
    try {
      await this.writeFiles();
    } finally {
      await net;
      await pw;
    }
    await Promise.all(NODES.map((n) => this.setupNode(n)));
    mark('mounts');
    await this.startDaemons();
    mark('daemons');
  }

  private async writeFiles(): Promise<void> {
    const t = this.tmp;
    const { uid, gid } = this.ids;
    chmodSync(t, 0o755);
    writeFileSync(STATE_FILE, JSON.stringify({ tmp: t, owner: process.pid } satisfies StateFile));

    // Homes
    for (const h of Object.values(this.homes)) {
      mkdirOwned(h, 0o700, uid, gid);
      mkdirOwned(join(h, '.ssh'), 0o700, uid, gid);
    }
    // Keys (in parallel): node host keys, the laptop user's key, the cluster user's key.
    const keysDir = mkdirOwned(join(t, 'keys'), 0o755);
    const [laptopKey, clusterKey, ...hostPubs] = await Promise.all([
      keygen(join(this.homes.laptop, '.ssh', 'id_ed25519'), `${TEST_USER}@laptop`),
      keygen(join(this.homes.cluster, '.ssh', 'id_ed25519'), `${TEST_USER}@mahuika`),
      ...SSHD_NODES.map((n) => keygen(join(keysDir, `${n}_host_ed25519_key`), `root@${HOSTNAMES[n]}`)),
    ]);
    this.laptopUserKey = laptopKey ?? '';
    SSHD_NODES.forEach((n, i) => (this.hostKeys[n] = hostKeyPart(hostPubs[i] ?? '')));
    for (const h of [this.homes.laptop, this.homes.cluster]) {
      chownSync(join(h, '.ssh', 'id_ed25519'), uid, gid);
      chownSync(join(h, '.ssh', 'id_ed25519.pub'), uid, gid);
    }
    // Laptop home: the article's ~/.ssh/config and known_hosts with the site's host keys.
    writeOwned(join(this.homes.laptop, '.ssh', 'config'), laptopSshConfig(TEST_USER), 0o600, uid, gid);
    writeOwned(join(this.homes.laptop, '.ssh', 'known_hosts'), this.laptopKnownHosts(), 0o600, uid, gid);
    // Lander home: the TOTP secret.
    writeOwned(join(this.homes.lander, '.google_authenticator'), googleAuthenticatorFile(this.totpSecret), 0o600, uid, gid);
    // Cluster home (login + compute): laptop key and cluster key authorised, host keys known.
    writeOwned(join(this.homes.cluster, '.ssh', 'authorized_keys'), `${laptopKey}\n${clusterKey}\n`, 0o600, uid, gid);
    writeOwned(join(this.homes.cluster, '.ssh', 'known_hosts'), this.clusterKnownHosts(), 0o600, uid, gid);
    writeOwned(join(this.homes.cluster, '.ssh', 'config'), clusterSshConfig(), 0o600, uid, gid);

    // Cluster-wide Slurm + munge config.
    const etcSlurm = mkdirOwned(join(t, 'cluster', 'etc-slurm'), 0o755);
    writeFileSync(join(etcSlurm, 'slurm.conf'), slurmConf(this.options.proctrack ?? 'cgroup'), { mode: 0o644 });
    writeFileSync(join(etcSlurm, 'cgroup.conf'), cgroupConf(), { mode: 0o644 });
    writeFileSync(join(etcSlurm, 'plugstack.conf'), '', { mode: 0o644 });
    const mungeIds = await this.lookupIds('munge');
    const etcMunge = mkdirOwned(join(t, 'cluster', 'etc-munge'), 0o700, mungeIds.uid, mungeIds.gid);
    writeOwned(join(etcMunge, 'munge.key'), randomBytes(1024), 0o400, mungeIds.uid, mungeIds.gid);

    // Per-node files.
    for (const n of NODES) {
      const d = mkdirOwned(join(t, 'nodes', n), 0o755);
      const runDir = mkdirOwned(join(d, 'run'), 0o755);
      if (n === 'laptop') mkdirOwned(join(runDir, 'burrow-repo'), 0o755);
      mkdirOwned(join(runDir, 'burrow-bin'), 0o755);
      writeFileSync(join(runDir, 'burrow-bin', 'node'), '', { mode: 0o755 });
      mkdirOwned(join(runDir, 'sshd'), 0o755);
      writeFileSync(join(d, 'hosts'), hostsFile(n), { mode: 0o644 });
      if (SSHD_NODES.includes(n)) {
        writeFileSync(
          join(d, 'sshd_config'),
          sshdConfig({ hostKey: join(keysDir, `${n}_host_ed25519_key`), keyboardInteractive: n === 'lander' }),
          { mode: 0o644 },
        );
        writeFileSync(join(d, 'sshd.log'), '', { mode: 0o644 });
      }
      if (n === 'lander') writeFileSync(join(d, 'pam-sshd'), landerPam(), { mode: 0o644 });
      if (CLUSTER_NODES.includes(n)) {
        mkdirOwned(join(runDir, 'munge'), 0o755, mungeIds.uid, mungeIds.gid);
        mkdirOwned(join(d, 'var-lib-munge'), 0o700, mungeIds.uid, mungeIds.gid);
        mkdirOwned(join(d, 'var-log-munge'), 0o700, mungeIds.uid, mungeIds.gid);
        mkdirOwned(join(d, 'var-lib-slurm', 'slurmctld'), 0o755);
        mkdirOwned(join(d, 'var-lib-slurm', 'slurmd'), 0o755);
        mkdirOwned(join(d, 'var-log-slurm'), 0o755);
      }
    }
    // Scratch space for jobs and tests, writable by the user on every cluster node (it is in
    // the shared home anyway).
    mkdirOwned(join(this.homes.cluster, 'jobs'), 0o755, uid, gid);

    mark('files');
  }

  private async lookupIds(user: string): Promise<UserIds> {
    const ids = passwdIds(user);
    if (!ids) throw new Error(`test site: no user ${user} (package munge creates it)`);
    return ids;
  }

  private laptopKnownHosts(): string {
    return [
      `lander,${ADDR.landerOuter} ${this.hostKeys.lander}`,
      `mahuika,${ADDR.login} ${this.hostKeys.login}`,
      '',
    ].join('\n');
  }

  private clusterKnownHosts(): string {
    return [
      `mahuika,${ADDR.login},${ADDR.loginBridge},localhost,127.0.0.1 ${this.hostKeys.login}`,
      `c1,${ADDR.c1} ${this.hostKeys.c1}`,
      `c2,${ADDR.c2} ${this.hostKeys.c2}`,
      '',
    ].join('\n');
  }

  private async createNetwork(): Promise<void> {
    const ip = '/usr/sbin/ip';
    const ns = (n: NodeName): string => `${NETNS_PREFIX}${n}`;
    await must(ip, ['-batch', '-'], { input: NODES.map((n) => `netns add ${ns(n)}\n`).join('') });
    for (const n of NODES) {
      const ino = nsInode(`/run/netns/${ns(n)}`);
      if (ino !== undefined) this.netInodes.add(ino);
    }
    // Links are created directly inside the namespaces: none ever exists in the host's.
    await must(ip, ['-batch', '-'], {
      input: [
        `link add eth0 netns ${ns('laptop')} type veth peer name eth0 netns ${ns('lander')}`,
        `link add eth1 netns ${ns('lander')} type veth peer name eth0 netns ${ns('login')}`,
        `link add vc1 netns ${ns('login')} type veth peer name eth0 netns ${ns('c1')}`,
        `link add vc2 netns ${ns('login')} type veth peer name eth0 netns ${ns('c2')}`,
        '',
      ].join('\n'),
    });
    const perNode: Record<NodeName, string[]> = {
      laptop: [`addr add ${ADDR.laptop}/24 dev eth0`, 'link set eth0 up', `route add 10.201.0.0/16 via ${ADDR.landerOuter}`],
      lander: [
        `addr add ${ADDR.landerOuter}/24 dev eth0`,
        `addr add ${ADDR.landerInner}/24 dev eth1`,
        'link set eth0 up',
        'link set eth1 up',
      ],
      login: [
        `addr add ${ADDR.login}/24 dev eth0`,
        'link set eth0 up',
        'link add br0 type bridge stp_state 0 forward_delay 0',
        'link set vc1 master br0',
        'link set vc2 master br0',
        `addr add ${ADDR.loginBridge}/24 dev br0`,
        'link set vc1 up',
        'link set vc2 up',
        'link set br0 up',
      ],
      c1: [`addr add ${ADDR.c1}/24 dev eth0`, 'link set eth0 up'],
      c2: [`addr add ${ADDR.c2}/24 dev eth0`, 'link set eth0 up'],
    };
    await Promise.all(
      NODES.map((n) => must(ip, ['-n', ns(n), '-batch', '-'], { input: ['link set lo up', ...perNode[n], ''].join('\n') })),
    );
  }

  private async startHolder(n: NodeName): Promise<void> {
    const netns = `${NETNS_PREFIX}${n}`;
    const hostMnt = nsOf(process.pid, 'mnt');
    const child = spawn(
      '/usr/bin/nsenter',
      [`--net=/run/netns/${netns}`, '--', '/usr/bin/unshare', '--mount', '--uts', '--propagation', 'private', '--', '/bin/sleep', 'infinity'],
      { stdio: 'ignore', detached: true },
    );
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`test site: could not start the holder of ${n}`);
    // nsenter and unshare exec: the PID becomes `sleep` once both namespaces are in place.
    await waitFor(`holder of ${n}`, () => {
      const mnt = nsOf(pid, 'mnt');
      return mnt !== undefined && mnt !== hostMnt && this.netInodes.has(nsOf(pid, 'net') ?? -1) && readIf(`/proc/${pid}/comm`).trim() === 'sleep';
    }, 5000);
    const id = procId(pid);
    if (!id) throw new Error(`test site: holder of ${n} died`);
    this.nodes.set(n, { name: n, netns, dir: join(this.tmp, 'nodes', n), holder: id, daemons: new Map() });
  }

  private node(n: NodeName): NodeState {
    const s = this.nodes.get(n);
    if (!s) throw new Error(`test site: unknown or stopped node ${n}`);
    return s;
  }

  private async setupNode(n: NodeName): Promise<void> {
    const s = this.node(n);
    const d = s.dir;
    const home = n === 'laptop' ? this.homes.laptop : n === 'lander' ? this.homes.lander : this.homes.cluster;
    const binds: Array<[string, string]> = [
      [join(d, 'hosts'), '/etc/hosts'],
      [join(d, 'run'), '/run'],
      [home, USER_HOME],
    ];
    if (SSHD_NODES.includes(n)) binds.push([join(d, 'sshd_config'), '/etc/ssh/sshd_config']);
    // The repository, readable by the test user even when its parents are not (CI may keep
    // it under /root): the laptop runs burrow from REPO_IN_LAPTOP.
    if (n === 'laptop') binds.push([REPO_ROOT, REPO_IN_LAPTOP]);
    // This Node.js binary, on every node's PATH, wherever it is installed on the host.
    binds.push([process.execPath, `${BIN_IN_NODES}/node`]);
    if (n === 'lander') binds.push([join(d, 'pam-sshd'), '/etc/pam.d/sshd']);
    if (CLUSTER_NODES.includes(n)) {
      binds.push(
        [join(this.tmp, 'cluster', 'etc-slurm'), '/etc/slurm'],
        [join(this.tmp, 'cluster', 'etc-munge'), '/etc/munge'],
        [join(d, 'var-lib-slurm'), '/var/lib/slurm'],
        [join(d, 'var-log-slurm'), '/var/log/slurm'],
        [join(d, 'var-lib-munge'), '/var/lib/munge'],
        [join(d, 'var-log-munge'), '/var/log/munge'],
      );
    }
    const enter = ['/usr/bin/nsenter', '-t', String(s.holder.pid), '-n', '-m', '-u', '--'];
    const t0 = Date.now();
    // One perl process makes every mount (mount(2) via syscall.ph): spawning mount(8) once
    // per bind costs tens of ms each on a small, busy VM. Falls back to mount(8).
    const flat = binds.flat();
    const viaPerl = existsSync('/usr/bin/perl') && !process.env.BURROW_SITE_NO_PERL
      ? await run(enter[0] ?? '', [...enter.slice(1), '/usr/bin/perl', '-e', PERL_MOUNT, HOSTNAMES[n], ...flat])
      : { code: -1, stdout: '', stderr: 'no perl' };
    if (viaPerl.code !== 0) {
      const script = ['set -e', `hostname ${HOSTNAMES[n]}`, ...binds.map(([src, dst]) => `mount --bind ${src} ${dst}`)].join('\n');
      await must(enter[0] ?? '', [...enter.slice(1), '/bin/sh', '-c', script]);
    }
    if (process.env.BURROW_SITE_DEBUG) console.error(`[site] mounts of ${n}: ${Date.now() - t0} ms`);
  }

  private spawnDaemon(n: NodeName, name: string, argv: string[], asUser?: string): ProcId {
    const s = this.node(n);
    const pre = asUser ? ['/usr/bin/setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--init-groups', '--'] : [];
    const logPath = join(s.dir, `${name}.out`);
    const out = openAppend(logPath);
    const child = spawn('/usr/bin/nsenter', ['-t', String(s.holder.pid), '-n', '-m', '-u', '--', ...pre, ...argv], {
      stdio: ['ignore', out, out],
      detached: true,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      cwd: '/',
    });
    closeFd(out);
    child.unref();
    if (child.pid === undefined) throw new Error(`test site: could not start ${name} on ${n}`);
    const id = procId(child.pid);
    if (!id) throw new Error(`test site: ${name} on ${n} died at once: ${readIf(logPath)}`);
    s.daemons.set(name, id);
    return id;
  }

  private async startSshd(n: NodeName): Promise<void> {
    const s = this.node(n);
    const id = this.spawnDaemon(n, 'sshd', ['/usr/sbin/sshd', '-D', '-f', '/etc/ssh/sshd_config', '-E', join(s.dir, 'sshd.log')]);
    await waitFor(`sshd on ${n}`, () => {
      if (!isAlive(id)) throw new Error(`test site: sshd on ${n} exited: ${readIf(join(s.dir, 'sshd.log'))}${readIf(join(s.dir, 'sshd.out'))}`);
      return listeningPorts(s.holder.pid).has(22);
    }, 5000);
  }

  private async startDaemons(): Promise<void> {
    const sshds = Promise.all(SSHD_NODES.map((n) => this.startSshd(n)));
    // munge on every cluster node, then slurmctld, then the slurmds.
    for (const n of CLUSTER_NODES) this.spawnDaemon(n, 'munged', ['/usr/sbin/munged', '--foreground'], 'munge');
    await Promise.all(
      CLUSTER_NODES.map((n) =>
        waitFor(`munged on ${n}`, () => existsSync(join(this.node(n).dir, 'run', 'munge', 'munge.socket.2')), 5000, () =>
          readIf(join(this.node(n).dir, 'munged.out')) + readIf(join(this.node(n).dir, 'var-log-munge', 'munged.log')),
        ),
      ),
    );
    const login = this.node('login');
    mark('munge');
    const ctld = this.spawnDaemon('login', 'slurmctld', ['/usr/sbin/slurmctld', '-D', '-i']);
    await waitFor('slurmctld', () => {
      if (!isAlive(ctld)) throw new Error(`slurmctld exited: ${this.slurmLog('login')}`);
      return listeningPorts(login.holder.pid).has(6817);
    }, 10_000, () => this.slurmLog('login'));
    mark('slurmctld');
    for (const n of ['c1', 'c2'] as const) this.spawnDaemon(n, 'slurmd', ['/usr/sbin/slurmd', '-D']);
    await waitFor(
      'both slurmds idle',
      async () => {
        for (const n of ['c1', 'c2'] as const) {
          const id = this.node(n).daemons.get('slurmd');
          if (id && !isAlive(id)) throw new Error(`slurmd on ${n} exited: ${this.slurmLog(n)}`);
        }
        const r = await this.exec('login', ['/usr/bin/sinfo', '-h', '-N', '-o', '%N %T']);
        const states = r.stdout.trim().split('\n').filter(Boolean);
        return states.length === 2 && states.every((l) => /\sidle$/.test(l));
      },
      20_000,
      () => `${this.slurmLog('login')}\n${this.slurmLog('c1')}`,
    );
    await sshds;
  }

  /** slurmctld.log (login) or slurmd.log (c1, c2). */
  slurmLog(n: NodeName): string {
    const file = n === 'login' ? 'slurmctld.log' : 'slurmd.log';
    return readIf(join(this.tmp, 'nodes', n, 'var-log-slurm', file)) + readIf(join(this.tmp, 'nodes', n, n === 'login' ? 'slurmctld.out' : 'slurmd.out'));
  }

  // ---- running things in nodes ---------------------------------------------------------

  private userName(u: string | boolean | undefined): string | undefined {
    if (u === true) return TEST_USER;
    if (u === false || u === undefined) return undefined;
    return u;
  }

  /** The command line (and environment) that runs argv inside a node, optionally as a user. */
  command(n: NodeName, argv: readonly string[], opts: { user?: string | boolean; env?: Record<string, string>; cwd?: string } = {}): NodeCommand {
    const s = this.node(n);
    const user = this.userName(opts.user);
    const home = user === TEST_USER ? USER_HOME : user ? `/home/${user}` : '/root';
    const cwd = opts.cwd ?? (user ? home : '/');
    const env: Record<string, string> = user
      ? {
          HOME: home,
          USER: user,
          LOGNAME: user,
          SHELL: '/bin/bash',
          PATH: `${BIN_IN_NODES}:/usr/local/bin:/usr/bin:/bin`,
          LANG: 'C.UTF-8',
          TERM: 'xterm',
        }
      : { HOME: '/root', USER: 'root', LOGNAME: 'root', PATH: `${BIN_IN_NODES}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8', TERM: 'xterm' };
    Object.assign(env, opts.env ?? {});
    const pre = user ? ['/usr/bin/setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--'] : [];
    return {
      file: '/usr/bin/nsenter',
      args: ['-t', String(s.holder.pid), '-n', '-m', '-u', `--wd=${cwd}`, '--', ...pre, ...argv],
      env,
    };
  }

  /** Runs argv inside a node and waits for it. */
  exec(n: NodeName, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const c = this.command(n, argv, opts);
    const ro: { env: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = { env: c.env };
    if (opts.input !== undefined) ro.input = opts.input;
    if (opts.timeoutMs !== undefined) ro.timeoutMs = opts.timeoutMs;
    return run(c.file, c.args, ro);
  }

  /** Runs argv in a pseudo-terminal inside a node (default: the laptop, as the test user). */
  pty(n: NodeName, argv: readonly string[], opts: { user?: string | boolean; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Pty {
    const c = this.command(n, argv, { user: opts.user ?? true, ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const po: PtyOptions = { env: c.env };
    if (opts.timeoutMs !== undefined) po.timeoutMs = opts.timeoutMs;
    const p = new Pty(c.file, c.args, po);
    this.ptys.add(p);
    void p.exited.then(() => this.ptys.delete(p));
    return p;
  }

  /** Starts argv inside a node (the returned ChildProcess is ended by stop() at the latest). */
  spawn(n: NodeName, argv: readonly string[], opts: SpawnOpts = {}): ChildProcess {
    const c = this.command(n, argv, opts);
    const child = spawn(c.file, c.args, { env: c.env, stdio: opts.stdio ?? 'pipe' });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** The current TOTP code for the test user (`oathtool --totp -b SECRET`). */
  async totp(): Promise<string> {
    return (await must('/usr/bin/oathtool', ['--totp', '-b', this.totpSecret])).trim();
  }

  /** A six-digit code that is NOT accepted now (not within ±4 time steps of the current one). */
  async wrongTotp(): Promise<string> {
    const r = await must('/usr/bin/oathtool', ['--totp', '-b', '-w', '8', '-N', `${new Date(Date.now() - 4 * 30_000).toISOString()}`, this.totpSecret]);
    const valid = new Set(r.split('\n').map((l) => l.trim()).filter(Boolean));
    for (let i = 0; ; i++) {
      const code = String((123456 + i * 7919) % 1_000_000).padStart(6, '0');
      if (!valid.has(code)) return code;
    }
  }

  // ---- observing and disturbing --------------------------------------------------------

  /** sshd's log of a node (sshd runs with `-E file`, LogLevel VERBOSE). */
  authLog(n: NodeName): string {
    return readIf(join(this.tmp, 'nodes', n, 'sshd.log'));
  }

  authCounts(n: NodeName): AuthCounts {
    const log = this.authLog(n);
    return {
      accepted: (log.match(/^.*Accepted \S+ for /gm) ?? []).length,
      failed: (log.match(/^.*Failed \S+ for /gm) ?? []).length,
    };
  }

  /** Path of a node's private files on the host (its /run is `${dir}/run`). */
  nodeDir(n: NodeName): string {
    return join(this.tmp, 'nodes', n);
  }

  /** TCP ports listening inside a node. */
  listening(n: NodeName): Set<number> {
    return listeningPorts(this.node(n).holder.pid);
  }

  /** Restarts a node's sshd (new host key files are picked up). dropSessions ends the existing sessions too. */
  async restartSshd(n: NodeName, opts: { dropSessions?: boolean } = {}): Promise<void> {
    const s = this.node(n);
    const old = s.daemons.get('sshd');
    const victims: ProcId[] = old ? [old] : [];
    if (opts.dropSessions) {
      const ino = nsInode(`/run/netns/${s.netns}`);
      for (const p of procsInNetns(new Set(ino === undefined ? [] : [ino]))) {
        if (readIf(`/proc/${p.pid}/comm`).trim().startsWith('sshd') && p.pid !== old?.pid) victims.push(p);
      }
    }
    const left = await endProcs(victims, 1000);
    if (left.length) throw new Error(`test site: sshd on ${n} did not stop`);
    await waitFor(`port 22 free on ${n}`, () => !listeningPorts(s.holder.pid).has(22), 3000);
    await this.startSshd(n);
  }

  /** Gives a node a new host key (the laptop's known_hosts keeps the old one) and restarts its sshd. */
  async changeHostKey(n: NodeName): Promise<string> {
    const path = join(this.tmp, 'keys', `${n}_host_ed25519_key`);
    if (!existsSync(`${path}.orig`)) {
      renameSync(path, `${path}.orig`);
      renameSync(`${path}.pub`, `${path}.pub.orig`);
    }
    rmSync(path, { force: true });
    rmSync(`${path}.pub`, { force: true });
    const pub = await keygen(path, `root@${HOSTNAMES[n]}-new`);
    this.hostKeys[n] = hostKeyPart(pub);
    await this.restartSshd(n, { dropSessions: true });
    return this.hostKeys[n] ?? '';
  }

  /** Puts back the host key the site started with (undoes changeHostKey). */
  async restoreHostKey(n: NodeName): Promise<void> {
    const path = join(this.tmp, 'keys', `${n}_host_ed25519_key`);
    if (!existsSync(`${path}.orig`)) return;
    renameSync(`${path}.orig`, path);
    renameSync(`${path}.pub.orig`, `${path}.pub`);
    this.hostKeys[n] = hostKeyPart(readFileSync(`${path}.pub`, 'utf8'));
    await this.restartSshd(n, { dropSessions: true });
  }

  /** The far end of a node's uplink (its eth0): [node, device]. */
  private peerOf(n: NodeName): [NodeName, string] {
    const peers: Record<NodeName, [NodeName, string]> = {
      laptop: ['lander', 'eth0'],
      lander: ['laptop', 'eth0'],
      login: ['lander', 'eth1'],
      c1: ['login', 'vc1'],
      c2: ['login', 'vc2'],
    };
    return peers[n];
  }

  /**
   * Cuts a node's uplink (laptop: its only link, to lander). Default: the node's own eth0
   * goes down, so its programs get an immediate local error (like switching Wi-Fi off).
   * `silent: true` takes the far end down instead: the node keeps its link and routes and
   * its packets vanish without an error (like a dead access point or a suspended laptop).
   */
  async linkDown(n: NodeName, opts: { silent?: boolean } = {}): Promise<void> {
    const [node, dev] = opts.silent ? this.peerOf(n) : [n, 'eth0'];
    await must('/usr/sbin/ip', ['-n', this.node(node).netns, 'link', 'set', dev, 'down']);
  }

  /** Undoes linkDown (both ends up, the laptop's route back). */
  async linkUp(n: NodeName): Promise<void> {
    const [peer, peerDev] = this.peerOf(n);
    await must('/usr/sbin/ip', ['-n', this.node(n).netns, 'link', 'set', 'eth0', 'up']);
    await must('/usr/sbin/ip', ['-n', this.node(peer).netns, 'link', 'set', peerDev, 'up']);
    if (n === 'laptop' || peer === 'laptop') {
      // The laptop's route through lander goes away with its link: put it back.
      await run('/usr/sbin/ip', ['-n', this.node('laptop').netns, 'route', 'replace', '10.201.0.0/16', 'via', ADDR.landerOuter]);
    }
  }

  // ---- teardown ----------------------------------------------------------------------

  /** Everything this site recorded: PIDs with start times, namespaces, temp dir. */
  snapshot(): SiteSnapshot {
    const pids: ProcId[] = [];
    for (const s of this.nodes.values()) pids.push(s.holder, ...s.daemons.values());
    return { pids, netns: [...SITE_NETNS], netInodes: [...this.netInodes], tmp: this.tmp };
  }

  /** Removes every process, mount, namespace, link and temp file of the site. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      for (const p of this.ptys) p.kill('SIGKILL');
      for (const c of this.children) {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
      const recorded: ProcId[] = [];
      for (const s of this.nodes.values()) recorded.push(...s.daemons.values());
      const inNs = procsInNetns(this.netInodes);
      const holders = [...this.nodes.values()].map((s) => s.holder);
      const others = inNs.filter((p) => !holders.some((h) => h.pid === p.pid && h.start === p.start));
      await endProcs([...new Map([...recorded, ...others].map((p) => [`${p.pid}:${p.start}`, p])).values()], 400);
      await removeNamespaces(SITE_NETNS.filter((n) => existsSync(`/run/netns/${n}`)));
      this.nodes.clear();
      rmSync(this.tmp, { recursive: true, force: true });
      try {
        const st = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StateFile;
        if (st.tmp === this.tmp) unlinkSync(STATE_FILE);
      } catch {
        // gone
      }
      removeSlurmCgroups(['c1', 'c2']);
    } finally {
      await this.lock.release();
    }
  }
}

export interface SiteSnapshot {
  pids: ProcId[];
  netns: string[];
  netInodes: number[];
  tmp: string;
}

/** What remains of a stopped site: empty when teardown was complete. */
export function residue(snap: SiteSnapshot): string[] {
  const found: string[] = [];
  for (const n of leftoverNetns()) found.push(`netns ${n}`);
  for (const p of snap.pids) if (isAlive(p)) found.push(`process ${p.pid} (${readIf(`/proc/${p.pid}/cmdline`).replace(/\0/g, ' ').trim()})`);
  for (const p of procsInNetns(new Set(snap.netInodes))) found.push(`process ${p.pid} in a site netns`);
  if (existsSync(snap.tmp)) found.push(`directory ${snap.tmp}`);
  const mounts = readIf('/proc/self/mountinfo');
  if (mounts.includes(snap.tmp)) found.push(`mount of ${snap.tmp} in the host namespace`);
  for (const d of readIf('/proc/net/dev').split('\n')) {
    const name = d.split(':')[0]?.trim() ?? '';
    if (/^(vc1|vc2|br0)$/.test(name)) found.push(`link ${name} in the host namespace`);
  }
  for (const c of safeReaddir('/sys/fs/cgroup')) {
    for (const n of ['c1', 'c2']) if (existsSync(join('/sys/fs/cgroup', c, `slurm_${n}`))) found.push(`cgroup ${c}/slurm_${n}`);
  }
  return found;
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

function hostKeyPart(pubLine: string): string {
  // "ssh-ed25519 AAAA... comment" → "ssh-ed25519 AAAA..."
  return pubLine.split(/\s+/).slice(0, 2).join(' ');
}

// argv: hostname, then (source, target) pairs. Exit 3 when syscall.ph is unavailable.
const PERL_MOUNT = `
eval { require "syscall.ph"; 1 } or exit 3;
my $h = shift @ARGV;
syscall(&SYS_sethostname, $h, length $h) == 0 or die "sethostname: $!";
while (@ARGV) {
  my ($s, $d) = (shift @ARGV, shift @ARGV);
  my ($fs, $z) = ("none", 0);
  syscall(&SYS_mount, $s, $d, $fs, 4096, $z) == 0 or die "mount --bind $s $d: $!";
}
`;

function openAppend(path: string): number {
  return openSync(path, 'a', 0o644);
}
function closeFd(fd: number): void {
  closeSync(fd);
}

/** Brings the whole site up; holds the site lock until stop(). */
export async function startSite(options: SiteOptions = {}): Promise<Site> {
  preflight();
  const t0 = Date.now();
  const lock = await acquireLock();
  const t1 = Date.now();
  let site: Site | undefined;
  try {
    await cleanupLeftovers();
    mark('lock+cleanup');
    const ids = await ensureUser();
    mark('user');
    const tmp = mkdtempSync(join(tmpdir(), TMP_PREFIX));
    lock.setTmp(tmp);
    site = new Site(tmp, ids, lock, options);
    await site.build();
    site.timings = { lockWaitMs: t1 - t0, upMs: Date.now() - t1 };
    return site;
  } catch (e) {
    if (site) await site.stop().catch(() => undefined);
    else await lock.release();
    throw e;
  }
}

/** Runs fn with a fresh site and always tears it down. */
export async function withSite<T>(fn: (site: Site) => Promise<T>, options: SiteOptions = {}): Promise<T> {
  const site = await startSite(options);
  try {
    return await fn(site);
  } finally {
    await site.stop();
  }
}
