/**
 * Joins a {@link Conn} (accepted, or dialed to a `-R` target) and a {@link Link}: the
 * contract of `joinLink` (half-close each way, a reset when either side breaks off,
 * every error caught) with neither a socket nor a Channel. Once the connection moves
 * more than `LINK_BYTES` either way, or anything would have to wait, the Conn becomes
 * a `net.Socket`, the link a Channel, and `joinStreams` goes on from there. Like
 * theirs, its first read waits for a turn on a congested SSH transport
 * (ssh/transport-turns.ts).
 */
import type { Link } from '../ssh/link.js';
import type { Conn, ConnUser } from './conn.js';
import { LINK_BYTES, joinRecord } from './link-join.js';
import { SOCKET_HIGH_WATER_MARK, joinStreams, prematureClose, type Join, type JoinOptions } from './pipe.js';

export function joinConn(conn: Conn, link: Link, opts: JoinOptions = {}): Join {
  let settled = false;
  let inner: Join | undefined;
  let localEnded = false;
  let remoteEnded = false;
  let upgradeDue = false;
  const rec = joinRecord(opts, (err) => {
    if (inner) inner.destroy(err);
    else settle(err ?? prematureClose());
  });
  const { join, onIn, onOut } = rec;

  function settle(err?: Error): void {
    if (settled) return;
    settled = true;
    link.turnDone();
    link.close();
    // Both directions done: close. Broken off: reset, so the client does not take what it got for all.
    conn.destroy(err !== undefined);
    rec.finish(err);
  }
  const check = (): void => {
    if (localEnded && remoteEnded && conn.writableFinished) settle();
  };

  /** The Conn becomes a socket, the link a Channel, and the streams' join goes on. */
  const upgrade = (unread?: Buffer): void => {
    link.turnDone();
    // `unread` goes to the Channel ahead of the socket's reads, as joinLink's does:
    // unshifted into the socket it cost one more 64 KiB read held per connection
    // (1000 concurrent -R downloads: 194 MB at the peak against 156; pipe.ts, `first`).
    const socket = conn.toSocket({ highWaterMark: SOCKET_HIGH_WATER_MARK });
    const j = joinStreams(socket, link.upgrade(), { onIn, onOut }, unread);
    inner = j;
    void j.done.then((r) => {
      settled = true;
      rec.finish(r.error);
    });
  };

  conn.onClose = () => {
    // Closed under us (a read or write error is reported first, through `error`).
    if (!settled && inner === undefined) settle(prematureClose());
  };
  link.attach({
    data(data) {
      if (settled || inner !== undefined) return; // a closing link drains into nothing
      // Not here: this runs inside the parse of the SSH connection's read (or of the
      // native receive loop's callback), and a sink the Channel hands to that loop now
      // could be written to ahead of this packet. The Conn takes it; the change follows.
      if (!upgradeDue && (join.bytesIn + data.length > LINK_BYTES || conn.writableLength > 0)) {
        upgradeDue = true;
        queueMicrotask(() => {
          if (!settled && inner === undefined && link.incoming.state !== 'closed') upgrade();
        });
      }
      onIn(data.length);
      conn.write(data);
    },
    eof() {
      remoteEnded = true;
      if (!settled && inner === undefined) conn.end();
    },
    close() {
      // Closed before its EOF, or while the local side may still send: cut, as joinStreams does.
      if (inner !== undefined) return;
      if (!(remoteEnded && localEnded)) settle(prematureClose());
      else check();
    },
    error: (err) => {
      if (inner === undefined) settle(err);
    },
  });
  if (settled) return join;
  const user: ConnUser = {
    data(chunk) {
      if (settled || inner !== undefined) return;
      link.turnDone();
      if (join.bytesOut + chunk.length <= LINK_BYTES && link.send(chunk)) {
        onOut(chunk.length);
        return;
      }
      // The Channel takes it, first.
      conn.pause();
      upgrade(chunk);
    },
    end() {
      localEnded = true;
      link.turnDone();
      if (settled || inner !== undefined) return;
      link.eof();
      check();
    },
    finish() {
      if (!settled && inner === undefined) check();
    },
    error(err) {
      if (inner === undefined) settle(err);
    },
  };
  // It reads once the transport has room (ssh/transport-turns.ts): into a congested one,
  // each of a thousand connections would read a chunk only to hold it.
  const reading = link.takeTurn();
  conn.start(user, reading);
  if (!reading) {
    link.whenRoom(() => {
      if (settled || inner !== undefined) {
        link.turnDone();
        return;
      }
      conn.resume();
    });
  }
  return join;
}
