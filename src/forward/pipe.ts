/**
 * Joins a local socket and an SSH channel: both directions through `stream.pipeline`
 * (so a slow reader slows the writer instead of growing a buffer), each direction
 * ends on its own (half-close), and every error is caught.
 */
import { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { Duplex } from 'node:stream';

export interface JoinResult {
  /** Bytes from the remote side to the local one. */
  bytesIn: number;
  /** Bytes from the local side to the remote one. */
  bytesOut: number;
  /** The first error of either side, if the join did not end cleanly. */
  error?: Error;
}

export interface JoinOptions {
  /** Called for every chunk moved, with its size, for live stats. */
  onIn?: (n: number) => void;
  onOut?: (n: number) => void;
}

export interface Join {
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Settles when both directions have ended or either failed; never rejects. */
  readonly done: Promise<JoinResult>;
  /** Cuts both sides now. */
  destroy(err?: Error): void;
}

const swallow = (): void => {};

/**
 * Write buffer of the local sockets (Node's default is 16 KiB). A read of the SSH
 * connection carries several 32 KiB packets of a channel; with room for them, they
 * leave in one writev(2) (see `joinStreams`) instead of one write(2) each. It adds
 * at most this much to what a stalled reader holds beyond the channel window.
 */
export const SOCKET_HIGH_WATER_MARK = 256 * 1024;

/**
 * Ends a stream for good: sockets and channels alike. On an error a TCP socket is
 * reset, not closed: a FIN would tell the client its data arrived complete when the
 * other side broke off (the connection dropped mid-transfer).
 */
function kill(s: Duplex, err?: Error): void {
  if (s.destroyed) return;
  if (err && s instanceof Socket && typeof s.resetAndDestroy === 'function' && s.remoteAddress !== undefined) {
    s.resetAndDestroy();
    return;
  }
  s.destroy(err);
  // An ssh2 channel's destroy() is only a polite close: its readable side stays as it
  // was, and a paused channel never reaches 'end', so never 'close', and is held forever
  // (by ssh2, by the pipeline waiting for it). Drain what is left so it can finish.
  if (!(s instanceof Socket) && !s.destroyed && s.readable) s.resume();
}

/**
 * Joins `local` and `remote` both ways. Data flows only while the receiving side
 * takes it: when the local reader stalls, `pipeline` stops reading the channel, ssh2
 * stops granting window, and the server stops sending.
 *
 * @example
 * const j = joinStreams(socket, channel);
 * const { bytesIn, bytesOut, error } = await j.done;
 */
export function joinStreams(local: Duplex, remote: Duplex, opts: JoinOptions = {}): Join {
  // An error on either side after the pipelines settle must not become an uncaught one.
  local.on('error', swallow);
  // The channel broke (the connection was lost): reset the local client at once. This
  // listener must run before pipeline's own (hence prepend), which would close the
  // socket with a FIN and pass a truncated transfer off as complete.
  remote.prependListener('error', (err: Error) => kill(local, err));

  let bytesIn = 0;
  let bytesOut = 0;
  let error: Error | undefined;
  let pending = 2;
  let resolve!: (r: JoinResult) => void;
  const done = new Promise<JoinResult>((r) => (resolve = r));

  const settle = (err: Error | null | undefined): void => {
    if (err && !error) {
      error = err;
      // One direction broke: the other cannot be trusted either.
      kill(local, err);
      kill(remote, err);
    }
    if (--pending > 0) return;
    // Both directions finished: make sure both sides are closed (ssh2 channels only
    // close when told; sockets with allowHalfOpen close once both halves end).
    kill(local);
    kill(remote);
    resolve(error ? { bytesIn, bytesOut, error } : { bytesIn, bytesOut });
  };

  // One read of the SSH connection carries several packets of a channel: write them
  // to the local socket together (one writev(2)) rather than one write(2) each.
  // Prepended so the socket is corked before pipeline writes the first of them.
  if (local instanceof Socket) {
    let corked = false;
    const uncork = (): void => {
      corked = false;
      local.uncork();
    };
    remote.prependListener('data', () => {
      if (corked || local.destroyed) return;
      corked = true;
      local.cork();
      process.nextTick(uncork);
    });
  }
  pipeline(local, remote, settle);
  pipeline(remote, local, settle);
  // Counted after the pipes attach so no chunk is emitted before they listen.
  local.on('data', (c: Buffer) => {
    bytesOut += c.length;
    opts.onOut?.(c.length);
  });
  remote.on('data', (c: Buffer) => {
    bytesIn += c.length;
    opts.onIn?.(c.length);
  });

  return {
    get bytesIn() {
      return bytesIn;
    },
    get bytesOut() {
      return bytesOut;
    },
    done,
    destroy(err?: Error) {
      kill(local, err);
      kill(remote, err);
    },
  };
}
