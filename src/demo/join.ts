/**
 * Joins a local socket and an SSH channel both ways with `stream.pipeline`, so
 * backpressure and errors propagate and each direction ends on its own (half-close).
 */
import type { Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';

export function join(socket: Socket, channel: Duplex): void {
  socket.setNoDelay(true);
  const cut = (err: Error | null | undefined): void => {
    if (!err) return;
    socket.destroy();
    channel.destroy();
  };
  pipeline(socket, channel, cut);
  pipeline(channel, socket, cut);
}
