/**
 * Outgoing channels the client asks for: `direct-tcpip` (what `ssh -L` opens) and
 * `direct-streamlocal@openssh.com` (a unix socket). TCP targets must be loopback.
 */
import { connect, type Socket } from 'node:net';
import type { ServerChannel, SocketRequestInfo, TcpipRequestInfo } from 'ssh2';
import { OPEN_FAILURE, type ConnContext } from './context.js';
import { join } from './join.js';
import { isLoopbackHost, loopbackOnlyLookup } from './loopback.js';

type Accept = () => ServerChannel | undefined;

export function onDirectTcpip(ctx: ConnContext, accept: Accept, reject: () => void, info: TcpipRequestInfo): void {
  const target = info.destIP.includes(':') ? `[${info.destIP}]:${info.destPort}` : `${info.destIP}:${info.destPort}`;
  if (!isLoopbackHost(info.destIP)) {
    ctx.refuse(
      reject,
      OPEN_FAILURE.ADMINISTRATIVELY_PROHIBITED,
      `burrow demo server forwards only to loopback (127.0.0.0/8, ::1, localhost); refused ${target}`,
    );
    return;
  }
  const socket = connect({
    host: info.destIP,
    port: info.destPort,
    allowHalfOpen: true,
    noDelay: true,
    lookup: loopbackOnlyLookup,
  });
  whenConnected(ctx, socket, accept, reject, target);
}

export function onDirectStreamLocal(ctx: ConnContext, accept: Accept, reject: () => void, info: SocketRequestInfo): void {
  const socket = connect({ path: info.socketPath, allowHalfOpen: true });
  whenConnected(ctx, socket, accept, reject, info.socketPath);
}

/** Accepts the channel only once the target answered, so a failure is a clean refusal. */
function whenConnected(ctx: ConnContext, socket: Socket, accept: Accept, reject: () => void, target: string): void {
  ctx.own(socket);
  const onError = (err: NodeJS.ErrnoException): void => {
    ctx.refuse(reject, OPEN_FAILURE.CONNECT_FAILED, `cannot connect to ${target}: ${err.code ?? err.message}`);
    socket.destroy();
  };
  socket.once('error', onError);
  socket.once('connect', () => {
    socket.off('error', onError);
    socket.on('error', () => socket.destroy());
    const channel = accept();
    if (!channel) {
      socket.destroy();
      return;
    }
    ctx.track(channel);
    join(socket, channel);
  });
}
