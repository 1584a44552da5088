/**
 * Joins a local socket and an SSH channel: each direction moves data only while the
 * receiving side takes it (a slow reader slows the writer instead of growing a
 * buffer), each direction ends on its own (half-close), and every error is caught.
 *
 * Not `stream.pipeline`: on a short connection its cost is most of what a forwarder
 * does. Per connection it builds two AbortControllers and aborts each on a *normal*
 * finish with a DOMException (a captured stack trace), plus four end-of-stream
 * watchers and destroyers; the join below does the same job with six listeners a side.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { attachSink } from './sink.js';
import { BULK_READ, readIntoSlots } from './local-reads.js';
import { resetSocket } from './reset.js';
import { clientOf, whenTransportRoom, type Turn } from '../ssh/transport-turns.js';
import { startPump, type RunningPump } from '../ssh/native-pump.js';

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

/**
 * Write buffer of the local sockets (Node's default is 16 KiB). A read of the SSH
 * connection carries several 32 KiB packets of a channel; with room for them, they
 * leave in one writev(2) (see `joinStreams`) instead of one write(2) each. It adds
 * at most this much to what a stalled reader holds beyond the channel window.
 */
export const SOCKET_HIGH_WATER_MARK = 256 * 1024;

/**
 * A paused socket reads nothing more. Node's servers set the read side's high-water mark
 * from the same option as the write side's (256 KiB above), and a paused socket goes on
 * reading until that much waits in it: a thousand uploads waiting on a slow link would
 * hold 256 MB. At 0, Node does not start reading again by itself after a pause (its
 * `maybeReadMore` reads while the buffer is under the mark); `pauseNow` stops the read
 * under way.
 */
export function limitReadAhead(socket: Socket): void {
  const state = (socket as unknown as ReadState)._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = 0;
}

/** What Node keeps of a socket's reading: its handle's and its stream's. */
interface ReadState {
  _handle?: { reading?: boolean; readStop?: () => number } | null;
  _readableState?: { reading?: boolean; highWaterMark?: number };
}

/**
 * Pauses `s` and, for a socket, stops its handle at once. Node's `pause()` stops reading
 * only for sockets with `onread`; any other goes on reading until one more read (64 KiB)
 * waits in it, and an accepted socket reads from the start: per connection waiting on
 * the SSH connection, 64 KiB more in memory rather than in the kernel's buffer (1000
 * concurrent downloads through `-R`: peak RSS 259 against 227 MB, bench/HISTORY.md,
 * session 48). A read asked for and not come (`reading`) will not come now: cleared, so
 * that Node asks again (`_read` starts the handle) when the stream flows again.
 */
export function pauseNow(s: Duplex): void {
  s.pause();
  if (!(s instanceof Socket)) return;
  const { _handle: h, _readableState: state } = s as unknown as ReadState;
  if (!h?.reading || typeof h.readStop !== 'function' || !state) return;
  // A handle that cannot stop (never seen) goes on reading: one read more, as before.
  if (h.readStop() !== 0) return;
  h.reading = false;
  state.reading = false;
}

/** A side closed before its data ended: the same error (and message) `pipeline` gave. */
export function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Ends a stream for good: sockets and channels alike. On an error a TCP socket is
 * reset, not closed: a FIN would tell the client its data arrived complete when the
 * other side broke off (the connection dropped mid-transfer).
 */
function kill(s: Duplex, err?: Error): void {
  if (s.destroyed) return;
  if (err && s instanceof Socket) {
    resetSocket(s, err);
    return;
  }
  s.destroy(err);
  // An ssh2 channel's destroy() is only a polite close: its readable side stays as it
  // was, and a paused channel never reaches 'end', so never 'close', and is held forever
  // (by ssh2, by a reader waiting for it). Drain what is left so it can finish.
  if (!(s instanceof Socket) && !s.destroyed && s.readable) s.resume();
}

/**
 * Joins `local` and `remote` both ways. Data flows only while the receiving side
 * takes it: when the local reader stalls, the channel is paused, ssh2 stops granting
 * window, and the server stops sending.
 *
 * @example
 * const j = joinStreams(socket, channel);
 * const { bytesIn, bytesOut, error } = await j.done;
 *
 * `first`: bytes already read from `local` and not yet sent (a link's join that could
 * not send a read), written to `remote` before anything else. Unshifted into a socket
 * that was flowing, they would come back through a 'readable' that runs before the
 * join's `resume()`; the join would pause on them, and that resume would still start a
 * read of the paused socket: one more read (64 KiB) held per connection
 * (bench/HISTORY.md, session 51). No closure of the join keeps them.
 */
export function joinStreams(local: Duplex, remote: Duplex, opts: JoinOptions = {}, first?: Buffer): Join {
  let error: Error | undefined;
  let settled = false;
  let moving = 2;
  let resolve!: (r: JoinResult) => void;
  const done = new Promise<JoinResult>((r) => (resolve = r));
  // The counters are plain fields: an object literal with getters is made in V8's
  // dictionary mode, each time (bench/HISTORY.md, session 30).
  const join = {
    bytesIn: 0,
    bytesOut: 0,
    done,
    destroy(err?: Error): void {
      native?.stop();
      kill(local, err);
      kill(remote, err);
      if (!settled) fail(err ?? prematureClose());
    },
  };

  let detachSink: (() => void) | undefined;
  // The local socket read by native code while it uploads (ssh/native-pump.ts).
  let native: RunningPump | undefined;
  // Gives back a turn on the transport that the local socket has not read with yet.
  let turnDone: (() => void) | undefined;
  const settle = (): void => {
    settled = true;
    turnDone?.();
    native?.stop();
    detachSink?.();
    // Both sides closed, whatever state they are in (ssh2 channels only close when
    // told; sockets with allowHalfOpen close once both halves end).
    kill(local, error);
    kill(remote, error);
    const { bytesIn, bytesOut } = join;
    resolve(error ? { bytesIn, bytesOut, error } : { bytesIn, bytesOut });
  };
  const fail = (err: Error): void => {
    if (settled) return;
    // One direction broke: the other cannot be trusted either. A channel that broke
    // (the connection was lost) resets the local client rather than closing it cleanly.
    error = err;
    settle();
  };

  // Errors keep a listener after the join settles: a late one must not become uncaught.
  local.on('error', fail);
  remote.on('error', fail);
  local.on('close', () => {
    if (!settled && !(local.readableEnded && local.writableFinished)) fail(prematureClose());
  });

  /**
   * `src` into `dst` until `src` ends and `dst` has finished. `toChannel`: `src` is the
   * local socket and `dst` the channel, whose write completes only once the server's
   * window and the connection's transport take it (the ssh2 patch's `[transport
   * backpressure]`). Reading then stops at the first write left waiting, not at the
   * channel's high-water mark: with many connections sending at once through a slow link,
   * each holds one read in memory, and the rest waits in its socket's kernel buffer.
   */
  const pump = (src: Duplex, dst: Duplex, onChunk: (n: number) => void, batch: boolean, toChannel: boolean, first?: Buffer): (() => boolean) => {
    let srcEnded = false;
    let dstFinished = dst.writableFinished;
    const check = (): void => {
      if (srcEnded && dstFinished && --moving === 0 && !settled) settle();
    };
    // One read of the SSH connection carries several packets of a channel: write them
    // to the local socket together (one writev(2)) rather than one write(2) each.
    let corked = false;
    const uncork = (): void => {
      corked = false;
      dst.uncork();
    };
    // A local socket sending into a channel reads in turns while the SSH connection's
    // transport is congested (ssh/transport-turns.ts); any other source flows again at once.
    const client = toChannel && src instanceof Socket ? clientOf(dst) : undefined;
    const flow = (): void => {
      if (!settled) src.resume();
    };
    // Reading stopped on a write left waiting (toChannel): it resumes once that completes.
    let held = false;
    // One place in line at a time; a turn that comes while a write waits again is let go.
    let inLine = false;
    // A turn given, and no read since: it holds room on the transport (transport-turns.ts).
    let given: Turn | undefined;
    const used = (): void => {
      given?.done();
      given = undefined;
    };
    if (client !== undefined) turnDone = used;
    const turn = (t: Turn): void => {
      inLine = false;
      used(); // one given before, whose read never came through `take` (native code read it)
      if (held || settled) t.done();
      else {
        // Native code reads the socket while it uploads: the turn holds nothing.
        if (native === undefined) given = t;
        else t.done();
        flow();
      }
    };
    const resume =
      client === undefined
        ? flow
        : (): void => {
            if (inLine) return;
            inLine = true;
            whenTransportRoom(client, turn);
          };
    const release = (): void => {
      if (!held) return;
      held = false;
      resume();
    };
    // `done` (reused read memory, local-reads.ts) runs once `dst` has taken the bytes.
    const take = (chunk: Buffer, done?: () => void): boolean => {
      if (given !== undefined) used();
      if (settled) {
        done?.();
        return true; // a killed channel drains into nothing
      }
      onChunk(chunk.length);
      if (batch && !corked) {
        corked = true;
        dst.cork();
        process.nextTick(uncork);
      }
      if (!toChannel) return dst.write(chunk, done);
      const more = dst.write(chunk, done ? () => (done(), release()) : release);
      if (more && dst.writableLength > 0) held = true;
      // Bulk data towards the server, taken at once: native code reads the socket on.
      else if (more && native === undefined && chunk.length >= BULK_READ && src instanceof Socket) {
        native = startPump(src, dst, onChunk, () => (native = undefined));
      }
      return more && !held;
    };
    let slots = false;
    // Not reading before its turn (an accepted socket reads from the start, and a 'data'
    // listener would make it flow).
    if (client !== undefined) pauseNow(src);
    src.on('data', (chunk: Buffer) => {
      const more = take(chunk);
      // Bulk data from a local socket, flowing on: later reads go to reused memory. Not
      // on a pause: only sockets whose writes flow switch (a switched socket keeps its
      // slots, 0.5–1.5 MiB, until it closes: local-reads.ts).
      if (more && toChannel && !slots && native === undefined && chunk.length >= BULK_READ && src instanceof Socket) slots = readIntoSlots(src, take);
      else if (!more) pauseNow(src);
    });
    dst.on('drain', resume);
    const onEnd = (): void => {
      if (srcEnded) return;
      srcEnded = true;
      used();
      // ssh2 ends a channel's writable side itself when the server closes it.
      if (!dst.writableEnded) dst.end();
      // A channel with nothing waiting for window sends its EOF inside end(): its side
      // is done now, not on 'finish' a tick later. When the other direction is done too,
      // the CLOSE that settling sends then leaves in the same write as the EOF, as
      // OpenSSH's does: one write(2) less where the server's EOF came first (a download
      // read to its end), and sshd takes both in one read.
      if (!(dst instanceof Socket) && dst.writableLength === 0) dstFinished = true;
      check();
    };
    src.once('end', onEnd);
    dst.once('finish', () => {
      if (dstFinished) return; // a channel counted done when it sent its EOF (onEnd)
      dstFinished = true;
      check();
    });
    // What the caller read already goes first; reading goes on once the channel took it.
    if (first !== undefined && !take(first)) return () => srcEnded;
    if (src.readableEnded) onEnd();
    // A source left paused (the SOCKS handshake) must flow again.
    else resume();
    return () => srcEnded;
  };

  const localEnded = pump(local, remote, (n) => {
    join.bytesOut += n;
    opts.onOut?.(n);
  }, false, true, first);
  const onIn = (n: number): void => {
    join.bytesIn += n;
    opts.onIn?.(n);
  };
  pump(remote, local, onIn, local instanceof Socket, false);
  if (local instanceof Socket) limitReadAhead(local);
  // Channel data straight to the socket's descriptor while nothing is queued (sink.ts).
  if (local instanceof Socket) detachSink = attachSink(local, remote, onIn);
  // ssh2 emits 'close' after the channel's 'end'. Closed before that, or while the
  // local side still had data to send (the server closed the channel without waiting
  // for our EOF), it went away under us: the local client is cut, as `pipeline` did
  // (a paused socket would otherwise never see its client's FIN and be held forever).
  remote.on('close', () => {
    if (!settled && !(remote.readableEnded && localEnded())) fail(prematureClose());
  });

  return join;
}
