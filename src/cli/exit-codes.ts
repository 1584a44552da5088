/**
 * Exit codes, as documented in the README:
 * - 0: success (or a graceful Ctrl-C of a forward-only session)
 * - 2: usage error (bad flags, malformed forward spec, bad config)
 * - 130: interrupted a second time (cut), or before connected (Ctrl-C at a prompt included)
 * - 255: connection, host key, authentication or forwarding failure (as ssh)
 * - otherwise: the remote command's exit status
 */
import type { ErrorCode } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;
export const EXIT_SSH = 255;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['USAGE', 'CONFIG', 'BAD_FORWARD_SPEC']);

export function exitCodeFor(code: ErrorCode): number {
  return USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_SSH;
}
