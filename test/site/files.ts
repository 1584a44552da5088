// Text of the files the test site writes: sshd configs, PAM stack, ssh client config,
// /etc/hosts per node, Slurm configuration. Pure functions, no I/O.

export type NodeName = 'laptop' | 'lander' | 'login' | 'c1' | 'c2';

export const NODES: readonly NodeName[] = ['laptop', 'lander', 'login', 'c1', 'c2'];
export const SSHD_NODES: readonly NodeName[] = ['lander', 'login', 'c1', 'c2'];
export const CLUSTER_NODES: readonly NodeName[] = ['login', 'c1', 'c2'];

export const HOSTNAMES: Record<NodeName, string> = {
  laptop: 'laptop',
  lander: 'lander',
  login: 'mahuika',
  c1: 'c1',
  c2: 'c2',
};

/** Addresses of the site (all inside the namespaces, 10.201.0.0/16). */
export const ADDR = {
  laptop: '10.201.1.10',
  landerOuter: '10.201.1.1',
  landerInner: '10.201.2.1',
  login: '10.201.2.10',
  loginBridge: '10.201.3.1',
  c1: '10.201.3.11',
  c2: '10.201.3.12',
} as const;

/** The text the lander's PAM stack shows for the second factor (after OpenSSH's "(user@host) " prefix). */
export const TOTP_PROMPT = 'Second Factor: ';
/** pam_unix's first prompt. */
export const PASSWORD_PROMPT = 'Password: ';

export function landerPam(): string {
  // pam_unix asks "Password: " (its text cannot be changed), then pam_google_authenticator
  // asks for the TOTP with a distinctive prompt. nodelay: no 2 s failure delay in tests.
  return [
    '# burrow test site: lander sshd, password then TOTP',
    'auth required pam_unix.so nodelay',
    `auth required pam_google_authenticator.so [authtok_prompt=${TOTP_PROMPT}]`,
    'account required pam_unix.so',
    'session required pam_unix.so',
    '',
  ].join('\n');
}

interface SshdOpts {
  hostKey: string;
  keyboardInteractive: boolean;
}

export function sshdConfig(o: SshdOpts): string {
  const common = [
    'Port 22',
    'ListenAddress 0.0.0.0',
    `HostKey ${o.hostKey}`,
    'PidFile none',
    'LogLevel VERBOSE',
    'PermitRootLogin no',
    'StrictModes no',
    'UseDNS no',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'GatewayPorts no',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxAuthTries 6',
    'MaxStartups 100:30:200',
    'LoginGraceTime 60',
    'ClientAliveInterval 0',
    'Subsystem sftp internal-sftp',
  ];
  const auth = o.keyboardInteractive
    ? [
        'UsePAM yes',
        'KbdInteractiveAuthentication yes',
        'PasswordAuthentication no',
        'PubkeyAuthentication no',
        'AuthenticationMethods keyboard-interactive',
      ]
    : [
        'UsePAM no',
        'KbdInteractiveAuthentication no',
        'PasswordAuthentication no',
        'PubkeyAuthentication yes',
        'AuthenticationMethods publickey',
      ];
  return [...common, ...auth, ''].join('\n');
}

export function hostsFile(node: NodeName): string {
  const base = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  switch (node) {
    case 'laptop':
      return [...base, '127.0.1.1\tlaptop', ''].join('\n');
    case 'lander':
      return [...base, '127.0.1.1\tlander', `${ADDR.login}\tmahuika`, ''].join('\n');
    case 'login':
      // `mahuika` resolves to loopback on the login node itself, so the article's
      // `LocalForward 6676 mahuika:6676` reaches a job's `ssh -R 6676:localhost:6676`.
      return [
        '127.0.0.1\tlocalhost mahuika',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        `${ADDR.c1}\tc1`,
        `${ADDR.c2}\tc2`,
        '',
      ].join('\n');
    case 'c1':
    case 'c2':
      return [
        ...base,
        `127.0.1.1\t${node}`,
        `${ADDR.loginBridge}\tmahuika`,
        `${ADDR.c1}\tc1`,
        `${ADDR.c2}\tc2`,
        '',
      ].join('\n');
  }
}

/** The laptop user's ~/.ssh/config, shaped like the article's. */
export function laptopSshConfig(user: string): string {
  const mahuika = [
    `    User ${user}`,
    `    HostName ${ADDR.login}`,
    '    ForwardX11 yes',
    '    ForwardX11Trusted yes',
    '    ServerAliveInterval 300',
    '    ServerAliveCountMax 2',
    '    LocalForward 6676 mahuika:6676',
    '    ExitOnForwardFailure yes',
  ];
  return [
    'Host mahuika',
    ...mahuika,
    '    ProxyCommand ssh -W %h:%p lander',
    '',
    'Host mahuika-pj',
    ...mahuika,
    '    ProxyJump lander',
    '',
    'Host lander',
    `    User ${user}`,
    `    HostName ${ADDR.landerOuter}`,
    '',
  ].join('\n');
}

/** The cluster home's ~/.ssh/config: login → compute nodes without questions. */
export function clusterSshConfig(): string {
  return ['Host *', '    BatchMode yes', '    StrictHostKeyChecking yes', ''].join('\n');
}

export type Proctrack = 'cgroup' | 'linuxproc';

export function slurmConf(proctrack: Proctrack = 'cgroup'): string {
  return [
    'ClusterName=burrow',
    `SlurmctldHost=mahuika(${ADDR.loginBridge})`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    'MpiDefault=none',
    `ProctrackType=proctrack/${proctrack}`,
    'TaskPlugin=task/none',
    'SwitchType=switch/none',
    'ReturnToService=2',
    'SlurmdParameters=config_overrides',
    'SlurmctldPidFile=/run/slurmctld.pid',
    'SlurmdPidFile=/run/slurmd.pid',
    'SlurmdSpoolDir=/var/lib/slurm/slurmd',
    'StateSaveLocation=/var/lib/slurm/slurmctld',
    'SlurmctldLogFile=/var/log/slurm/slurmctld.log',
    'SlurmdLogFile=/var/log/slurm/slurmd.log',
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
    'SchedulerType=sched/backfill',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'JobCompType=jobcomp/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'InactiveLimit=0',
    'KillWait=2',
    'MinJobAge=300',
    'SlurmctldTimeout=30',
    'SlurmdTimeout=60',
    'MessageTimeout=5',
    'SchedulerParameters=sched_interval=1',
    `NodeName=c1 NodeAddr=${ADDR.c1} CPUs=2 RealMemory=512 State=UNKNOWN`,
    `NodeName=c2 NodeAddr=${ADDR.c2} CPUs=2 RealMemory=512 State=UNKNOWN`,
    'PartitionName=debug Nodes=c1,c2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES',
    '',
  ].join('\n');
}

export function cgroupConf(): string {
  return [
    'CgroupPlugin=cgroup/v1',
    'CgroupAutomount=no',
    'CgroupMountpoint=/sys/fs/cgroup',
    'ConstrainCores=no',
    'ConstrainRAMSpace=no',
    'ConstrainSwapSpace=no',
    'ConstrainDevices=no',
    '',
  ].join('\n');
}

/** RFC 4648 base32 without padding (the form oathtool -b and google-authenticator use). */
export function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

export function googleAuthenticatorFile(secret: string): string {
  // No DISALLOW_REUSE, no RATE_LIMIT: tests log in many times within one 30 s window.
  return [secret, '" WINDOW_SIZE 3', '" TOTP_AUTH', ''].join('\n');
}
