/**
 * Typed errors. Every expected failure is a {@link BurrowError} with a stable `code`,
 * the `phase` it arose in and an optional `cause`. The CLI maps codes to exit codes
 * and prints `message` (which says what happened and what to do), never a stack.
 *
 * @example
 * throw new BurrowError('PORT_IN_USE', 'port 5555 is in use by python3 (pid 4121); pick another or use 0', { phase: 'forward' });
 */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'BAD_FORWARD_SPEC'
  | 'PORT_IN_USE'
  | 'PORT_PRIVILEGED'
  | 'PORT_OUT_OF_RANGE'
  | 'BIND_FAILED'
  | 'CONNECT_FAILED'
  | 'CONNECT_TIMEOUT'
  | 'DNS_FAILED'
  | 'PROXY_COMMAND_FAILED'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_MISMATCH'
  | 'HOST_KEY_REVOKED'
  | 'HOST_KEY_REJECTED'
  | 'AUTH_FAILED'
  | 'AUTH_NEEDS_TTY'
  | 'KEY_UNREADABLE'
  | 'FORWARD_REFUSED'
  | 'CHANNEL_OPEN_FAILED'
  | 'SESSION_CLOSED'
  | 'DISCONNECTED'
  | 'SOCKS_PROTOCOL'
  | 'OUTPUT_FAILED'
  | 'ABORTED'
  | 'INTERNAL';

export type Phase =
  | 'config'
  | 'connect'
  | 'handshake'
  | 'hostkey'
  | 'auth'
  | 'forward'
  | 'channel'
  | 'session'
  | 'cli';

export interface BurrowErrorOptions {
  phase?: Phase;
  cause?: unknown;
  /** Extra machine-readable facts (port, pid, file, line...). */
  details?: Record<string, unknown>;
}

export class BurrowError extends Error {
  override readonly name: string = 'BurrowError';
  readonly code: ErrorCode;
  readonly phase: Phase | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: BurrowErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.phase = opts.phase;
    this.details = opts.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, phase: this.phase, message: this.message, ...this.details };
  }
}

export function isBurrowError(e: unknown, code?: ErrorCode): e is BurrowError {
  return e instanceof BurrowError && (code === undefined || e.code === code);
}

/** The error of an aborted operation, with the signal's reason as cause. */
export function abortError(signal: AbortSignal | undefined, what = 'operation'): BurrowError {
  return new BurrowError('ABORTED', `${what} aborted`, { cause: signal?.reason });
}

/** Wraps anything thrown into a BurrowError (unknown failures become INTERNAL). */
export function toBurrowError(e: unknown, fallback: ErrorCode = 'INTERNAL', phase?: Phase): BurrowError {
  if (e instanceof BurrowError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new BurrowError(fallback, msg, { cause: e, phase });
}
