/**
 * Listeners the client asks the server to open: `tcpip-forward` (what `ssh -R` asks
 * for; port 0 gets an allocated port, reported back) and `streamlocal-forward@openssh.com`.
 * Like sshd with `GatewayPorts no`, TCP listeners bind loopback whatever address is asked.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ServerChannel, SocketBindInfo, TcpipBindInfo } from 'ssh2';
import type { ConnContext } from './context.js';
import { join } from './join.js';

type Accept = ((port?: number) => void) | undefined;
type Reject = (() => void) | undefined;

/** Remote forwards of one connection, keyed `addr:port` (allocated port) or the socket path. */
export class RemoteForwards {
  readonly #ctx: ConnContext;
  readonly #listeners = new Map<string, Server>();

  constructor(ctx: ConnContext) {
    this.#ctx = ctx;
    ctx.onEnd(() => {
      for (const srv of this.#listeners.values()) srv.close();
      this.#listeners.clear();
    });
  }

  onRequest(accept: Accept, reject: Reject, name: string, info: TcpipBindInfo | SocketBindInfo): void {
    const refuse = (): void => {
      this.#ctx.refused();
      reject?.();
    };
    if (name === 'tcpip-forward' && 'bindPort' in info) this.#listenTcp(info, accept, refuse);
    else if (name === 'cancel-tcpip-forward' && 'bindPort' in info) this.#cancel(`${info.bindAddr}:${info.bindPort}`, accept, refuse);
    else if (name === 'streamlocal-forward@openssh.com' && 'socketPath' in info) this.#listenUnix(info.socketPath, accept, refuse);
    else if (name === 'cancel-streamlocal-forward@openssh.com' && 'socketPath' in info) this.#cancel(info.socketPath, accept, refuse);
    else refuse();
  }

  #listenTcp(info: TcpipBindInfo, accept: Accept, refuse: () => void): void {
    const host = info.bindAddr === '::1' || info.bindAddr === '[::1]' ? '::1' : '127.0.0.1';
    const srv = createServer({ allowHalfOpen: true, noDelay: true });
    srv.once('error', refuse);
    srv.listen({ host, port: info.bindPort }, () => {
      srv.off('error', refuse);
      srv.on('error', () => srv.close());
      const port = (srv.address() as { port: number }).port;
      this.#listeners.set(`${info.bindAddr}:${port}`, srv);
      srv.on('connection', (socket: Socket) =>
        this.#forward(socket, (cb) =>
          this.#ctx.conn.forwardOut(info.bindAddr, port, socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, cb),
        ),
      );
      accept?.(port);
    });
  }

  #listenUnix(path: string, accept: Accept, refuse: () => void): void {
    const srv = createServer({ allowHalfOpen: true });
    srv.once('error', refuse);
    srv.listen({ path }, () => {
      srv.off('error', refuse);
      srv.on('error', () => srv.close());
      this.#listeners.set(path, srv);
      srv.on('connection', (socket: Socket) =>
        this.#forward(socket, (cb) => this.#ctx.conn.openssh_forwardOutStreamLocal(path, cb)),
      );
      accept?.();
    });
  }

  #cancel(key: string, accept: Accept, refuse: () => void): void {
    const srv = this.#listeners.get(key);
    if (!srv) return refuse();
    this.#listeners.delete(key);
    srv.close();
    accept?.();
  }

  /** Opens a `forwarded-*` channel for one accepted connection and joins them. */
  #forward(socket: Socket, open: (cb: (err: Error | undefined, ch: ServerChannel) => void) => void): void {
    this.#ctx.own(socket);
    socket.on('error', () => socket.destroy());
    open((err, channel) => {
      if (err) {
        socket.destroy();
        return;
      }
      this.#ctx.track(channel);
      join(socket, channel);
    });
  }
}
