/**
 * Node's reads of a socket held while native code reads it (the receive loop reads the
 * SSH socket, the upload pump a local one).
 */
import type { Socket } from 'node:net';

interface NodeHandle {
  reading?: boolean;
  readStop(): number;
  readStart(): number;
}

/**
 * `pause()` stops the reads of a socket made with `onread` (burrow's transports), not
 * those of another socket, and Node starts them again on any `socket.read()` (its
 * streams call `read(0)`): held, the handle stops reading, and its readStart does
 * nothing. Released, it reads again unless `readOn` is false (the socket is being
 * closed): Node may have "started" reads meanwhile (the no-op, with `reading` set).
 * A socket paused meanwhile (a join waiting for its turn on the transport) is left
 * stopped, with nothing marked as started: it reads once it flows again (Node's
 * `_read`, or `resume()` for an `onread` socket). Read now, its chunk would only wait
 * in the paused stream (bench/HISTORY.md, session 51).
 */
export function holdReads(socket: Socket, hold: boolean, readOn = true): void {
  const h = (socket as unknown as { _handle?: NodeHandle | null })._handle;
  if (!h) return;
  if (hold) {
    if (h.reading) {
      h.reading = false;
      h.readStop();
    }
    h.readStart = () => 0;
    return;
  }
  delete (h as Partial<NodeHandle>).readStart;
  if (!readOn || socket.destroyed) return;
  const state = (socket as unknown as { _readableState?: { reading?: boolean } })._readableState;
  if (socket.readableFlowing === false && state) {
    h.reading = false;
    state.reading = false;
    return;
  }
  h.reading = true;
  h.readStart();
}
