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
  if (readOn && !socket.destroyed) {
    h.reading = true;
    h.readStart();
  }
}
