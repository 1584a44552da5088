/** OpenSSH known_hosts semantics and the ssh2 host verifier built on them. */
export { createHostVerifier, knownHostKeyTypes, type HostKeyPolicy, type HostVerifier } from './verifier.js';
export { fingerprintSha256, keyTypeOf, displayKeyType, hostKeyAlgorithmsFor } from './keyblob.js';
export {
  parseKnownHosts,
  readKnownHostsFile,
  lookupKnownHosts,
  matchEntries,
  appendKnownHost,
  formatKnownHostsLine,
  type KnownHostEntry,
  type KnownHostsFile,
  type KnownHostsMarker,
  type KnownHostsProblem,
  type AppendOptions,
} from './known-hosts.js';
export { knownHostsName, matchPatternList, hashHostName, matchHashed, hostFieldMatches } from './patterns.js';
export { preferHostKeyAlgorithms, preferredHostKeyAlgorithms } from './algorithms.js';
