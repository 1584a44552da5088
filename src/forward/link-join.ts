/**
 * Joins a local socket and a {@link Link}: the same contract as `joinStreams`
 * (half-close each way, a reset when either side breaks off, every error caught), for
 * a connection that has moved little so far. Once it moves more, or anything would
 * have to wait, the link becomes an ssh2 Channel and `joinStreams` takes over.
 */
import type { Socket } from 'node:net';
import type { Link } from '../ssh/link.js';
import { joinStreams, limitReadAhead, pauseNow, prematureClose, type Join, type JoinOptions, type JoinResult } from './pipe.js';
import { resetSocket } from './reset.js';
import { sendNow } from './sink.js';

/**
 * Bytes each way a link carries before it becomes a Channel: a request and its reply
 * stay on the link, a transfer moves to the Channel's bulk path (sinks, the window
 * tuner) within its first read or two.
 */
export const LINK_BYTES = 64 * 1024;

/** A join's counters and promise, kept alike by `joinLink` and `joinConn`. */
export interface JoinRecord {
  /** The join handed to the caller: plain fields (a literal with getters is made in dictionary mode). */
  join: Join & { bytesIn: number; bytesOut: number };
  onIn(n: number): void;
  onOut(n: number): void;
  /** Settles `join.done` with the counts so far, and `error` if the join broke. */
  finish(error?: Error): void;
}

export function joinRecord(opts: JoinOptions, destroy: (err?: Error) => void): JoinRecord {
  let resolve!: (r: JoinResult) => void;
  const done = new Promise<JoinResult>((r) => (resolve = r));
  const join = { bytesIn: 0, bytesOut: 0, done, destroy };
  return {
    join,
    onIn(n) {
      join.bytesIn += n;
      opts.onIn?.(n);
    },
    onOut(n) {
      join.bytesOut += n;
      opts.onOut?.(n);
    },
    finish(error) {
      const { bytesIn, bytesOut } = join;
      resolve(error ? { bytesIn, bytesOut, error } : { bytesIn, bytesOut });
    },
  };
}

export function joinLink(local: Socket, link: Link, opts: JoinOptions = {}): Join {
  let settled = false;
  let inner: Join | undefined;
  let localEnded = false;
  let remoteEnded = false;
  let localFinished = local.writableFinished;
  let upgradeDue = false;
  const rec = joinRecord(opts, (err) => {
    if (inner) {
      inner.destroy(err);
      return;
    }
    if (!local.destroyed) {
      if (err) resetSocket(local, err);
      else local.destroy();
    }
    settle(err ?? prematureClose());
  });
  const { join, onIn, onOut } = rec;

  const detach = (): void => {
    local.off('data', onData);
    local.off('end', onEnd);
    local.off('finish', onFinish);
    local.off('close', onClose);
    local.off('error', settle);
  };
  function settle(err?: Error): void {
    if (settled) return;
    settled = true;
    detach();
    link.turnDone();
    // Late errors must not become uncaught.
    local.on('error', () => {});
    link.close();
    if (!local.destroyed) {
      if (err) resetSocket(local, err);
      else local.destroy();
    }
    rec.finish(err);
  }
  const check = (): void => {
    if (localEnded && remoteEnded && localFinished) settle();
  };

  /** The link becomes a Channel, and the streams' join goes on from here. */
  const upgrade = (first?: Buffer): void => {
    detach();
    link.turnDone();
    const j = joinStreams(local, link.upgrade(), { onIn, onOut }, first);
    inner = j;
    void j.done.then((r) => {
      settled = true;
      rec.finish(r.error);
    });
  };

  function onData(chunk: Buffer): void {
    link.turnDone();
    if (join.bytesOut + chunk.length <= LINK_BYTES && link.send(chunk)) {
      onOut(chunk.length);
      return;
    }
    // The Channel takes it, first (joinStreams stops the handle's reading).
    local.pause();
    upgrade(chunk);
  }
  function onEnd(): void {
    localEnded = true;
    link.turnDone();
    link.eof();
    check();
  }
  function onFinish(): void {
    localFinished = true;
    check();
  }
  function onClose(): void {
    if (!(local.readableEnded && local.writableFinished)) settle(prematureClose());
  }

  // Not reading before its turn on the transport (an accepted socket reads from the
  // start, and a 'data' listener would make it flow). With a turn free now, as on a
  // transport with room, its handle goes on reading: no stop and restart.
  const reading = link.takeTurn();
  if (!reading) pauseNow(local);
  local.on('data', onData);
  local.once('end', onEnd);
  local.once('finish', onFinish);
  local.on('close', onClose);
  local.on('error', settle);
  limitReadAhead(local);

  link.attach({
    data(data) {
      if (settled) return; // a closing link drains into nothing
      // Not here: this runs inside the parse of the SSH connection's read (or of the
      // native receive loop's callback), and a sink the Channel hands to that loop now
      // could be written to ahead of this packet. The link takes it; the change follows.
      if (!upgradeDue && (join.bytesIn + data.length > LINK_BYTES || local.writableLength > 0)) {
        upgradeDue = true;
        queueMicrotask(() => {
          if (!settled && inner === undefined && link.incoming.state !== 'closed') upgrade();
        });
      }
      onIn(data.length);
      // Straight to the kernel when it takes it; what it does not goes to Node's write
      // as a copy (`data` is a view of a read buffer that is reused).
      const sent = sendNow(local, data);
      if (sent < data.length) local.write(Buffer.from(sent > 0 ? data.subarray(sent) : data));
    },
    eof() {
      remoteEnded = true;
      if (!settled) local.end();
    },
    close() {
      // Closed before its EOF, or while the local side may still send: cut, as joinStreams does.
      if (!(remoteEnded && localEnded)) settle(prematureClose());
      else check();
    },
    error: (err) => settle(err),
  });
  // Only now: what the server sent before (link.attach) may already end or upgrade the join.
  if (!settled && inner === undefined) {
    if (local.readableEnded) onEnd();
    // It reads once the transport has room (ssh/transport-turns.ts); a socket left
    // paused (the SOCKS handshake) flows again then.
    else if (reading) local.resume();
    else {
      link.whenRoom(() => {
        if (settled || inner !== undefined) {
          link.turnDone();
          return;
        }
        local.resume();
      });
    }
  }

  return join;
}
