/**
 * Joins a local socket and a server-side SSH channel both ways with `stream.pipeline`,
 * so backpressure and errors propagate, and keeps each direction open until its own
 * end, as sshd does. ssh2 closes a server channel as soon as its writable side
 * finishes; ending it only once both directions are done keeps half-close working
 * (a client may still be sending after the service has said all it will say).
 */
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { ServerChannel } from 'ssh2';
import { resetSocket } from '../forward/reset.js';

export function join(socket: Socket, channel: ServerChannel): void {
  socket.setNoDelay(true);
  let upDone = false;
  let downDone = false;
  const cut = (): void => {
    socket.destroy();
    channel.destroy();
  };
  const closeWhenBothDone = (): void => {
    if (upDone && downDone) channel.end();
  };
  // A broken channel (the client sent past its window): reset the service's socket,
  // so that it never takes the stream's start for all of it. Registered before
  // pipeline's listeners, so this runs before pipeline closes the socket with a FIN.
  channel.on('error', () => {
    if (!socket.destroyed) resetSocket(socket);
  });
  pipeline(socket, channel, { end: false }).then(() => {
    // With end:false pipeline settles before the channel has sent what it buffered
    // (waiting for window); an empty write's callback runs only after all of it.
    channel.write(Buffer.alloc(0), () => {
      channel.eof();
      upDone = true;
      closeWhenBothDone();
    });
  }, cut);
  pipeline(channel, socket).then(() => {
    downDone = true;
    closeWhenBothDone();
  }, cut);
  // The client closed the channel outright: deliver what it sent, then stop reading.
  channel.once('close', () => {
    if (upDone) return;
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  });
}
