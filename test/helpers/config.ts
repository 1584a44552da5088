import type { ResolvedHost } from '../../src/config/types.js';
import type { Sshd } from './sshd.js';

/** A ResolvedHost for a test sshd, built by hand (no ssh_config involved). */
export function sshdConfig(sshd: Sshd, over: Partial<ResolvedHost> = {}): ResolvedHost {
  return {
    alias: 'test-sshd',
    hostname: sshd.host,
    user: sshd.user,
    port: sshd.port,
    identityFiles: [sshd.clientKeyPath],
    identityFilesExplicit: true,
    identitiesOnly: true,
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    exitOnForwardFailure: false,
    serverAliveInterval: 0,
    serverAliveCountMax: 3,
    strictHostKeyChecking: 'yes',
    userKnownHostsFiles: [sshd.knownHostsFile],
    globalKnownHostsFiles: [],
    gatewayPorts: false,
    addressFamily: 'any',
    batchMode: true,
    unsupported: [],
    ...over,
  };
}
