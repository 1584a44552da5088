/**
 * OpenSSH client configuration (`ssh_config`) resolution: what `ssh -G` prints, for
 * the settings burrow uses.
 */
export { resolveHost, type ResolveOptions } from './resolve.js';
export { parseOptionArg, type OptionArg } from './option-arg.js';
export { parseDestination, type Destination } from './destination.js';
