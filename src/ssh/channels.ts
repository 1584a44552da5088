/**
 * What the forward layer needs from an SSH session: open channels out, ask the server
 * to listen. `Session` implements it; tests may implement it over a bare ssh2 Client.
 */
import type { Duplex } from 'node:stream';
import type { Link, LinkTarget } from './link.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** An incoming connection on a remote (-R) listener: accept it to get the channel. */
export interface IncomingChannel {
  /** Who connected, as the server reports it. */
  origin: Endpoint;
  accept(): Duplex;
  /**
   * The same channel as a {@link Link}, for joining to a local socket: cheaper while it
   * moves little. Where an opener offers it, use it or `accept`, not both.
   */
  acceptLink?(): Link;
  reject(): void;
}

export interface RemoteListener {
  /** The port the server bound (the allocated one when 0 was asked). */
  readonly port: number;
  close(): Promise<void>;
}

export interface ChannelOpener {
  /** A label for messages: the destination as the user named it (e.g. `mahuika`). */
  readonly destination: string;
  /** `direct-tcpip`: a channel to host:port as seen from the server. */
  openTcp(target: Endpoint, origin: Endpoint, opts?: { signal?: AbortSignal }): Promise<Duplex>;
  /** `direct-streamlocal@openssh.com`: a channel to a unix socket on the server. */
  openUnix(path: string, opts?: { signal?: AbortSignal }): Promise<Duplex>;
  /**
   * The same channel as a {@link Link}, for a forwarded connection joined to a local
   * socket (-L, -D): cheaper while it moves little, a Channel once it moves more.
   */
  openLink(target: LinkTarget, opts?: { signal?: AbortSignal }): Promise<Link>;
  /** `tcpip-forward`: the server listens on bind:port and hands connections to `onConnection`. */
  listenTcp(bind: string, port: number, onConnection: (c: IncomingChannel) => void): Promise<RemoteListener>;
  /** `streamlocal-forward@openssh.com`: the server listens on a unix socket path. */
  listenUnix(path: string, onConnection: (c: IncomingChannel) => void): Promise<RemoteListener>;
}
