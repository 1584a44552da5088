/**
 * The resolved settings for one destination, as `ssh -G host` would print them,
 * limited to what burrow uses. Produced by `config/ssh-config`, consumed by `ssh/`.
 */
export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';
export type AddressFamily = 'any' | 'inet' | 'inet6';

export interface ResolvedHost {
  /** The destination as the user named it (`mahuika`): `%n`. */
  alias: string;
  /** `HostName` with `%h` expanded; the alias when unset: `%h`. */
  hostname: string;
  user: string;
  port: number;
  /** Expanded paths (`~`, tokens), in config order; OpenSSH's defaults when none is set. */
  identityFiles: string[];
  /** True when IdentityFile was given explicitly (by config or -i), false for defaults. */
  identityFilesExplicit: boolean;
  identitiesOnly: boolean;
  /** Tokens expanded; undefined when unset or `none`. */
  proxyCommand?: string;
  /** Raw value (`user@host:port,host2`); undefined when unset or `none`. */
  proxyJump?: string;
  /** Raw values as written in config (`6676 mahuika:6676`), in order. */
  localForwards: string[];
  remoteForwards: string[];
  dynamicForwards: string[];
  exitOnForwardFailure: boolean;
  /** Seconds; 0 = off. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  strictHostKeyChecking: StrictHostKeyChecking;
  /** Expanded paths. */
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hostKeyAlias?: string;
  gatewayPorts: boolean;
  /** Seconds; undefined = none (OS default). */
  connectTimeout?: number;
  addressFamily: AddressFamily;
  batchMode: boolean;
  /** Ciphers in order of preference (Ciphers, -c); undefined: ssh2's default order. */
  ciphers?: string[];
  /** MACs and key exchanges likewise (MACs, KexAlgorithms). */
  macs?: string[];
  kexAlgorithms?: string[];
  /** Keys present in the config that burrow does not implement (lower-case), for `-v`. */
  unsupported: string[];
  /** Config files read, in order (includes too), for `-v`. */
  configFiles?: string[];
}
