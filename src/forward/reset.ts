/**
 * Ends a TCP connection that broke off: with a reset, so the peer does not take the
 * data it got for all of it (a FIN says "complete").
 */
import type { Socket } from 'node:net';

/**
 * Resets `s`, or closes it when a reset is not possible or not wanted: not once it has
 * ended (its FIN is out, and the data before it did arrive complete; resetting a socket
 * with a shutdown in flight left Node polling its fd at full CPU), nor before it is
 * connected.
 */
export function resetSocket(s: Socket, err?: Error): void {
  if (!s.writableEnded && typeof s.resetAndDestroy === 'function' && s.remoteAddress !== undefined) s.resetAndDestroy();
  else s.destroy(err);
}
