/**
 * `-L`: a local listener (TCP or unix socket); each connection becomes a channel to
 * the target as seen from the server (`direct-tcpip` or `direct-streamlocal`).
 */
import type net from 'node:net';
import { BurrowError } from '../errors.js';
import { checkLocalPort } from '../config/ports.js';
import { formatEndpoint, type ForwardSpec, type TargetEndpoint } from '../config/forward-spec.js';
import type { ChannelOpener } from '../ssh/channels.js';
import { ForwardBase } from './base.js';
import { bindChoice, closeServer, listenTcp, listenUnix, type BindChoice } from './listen.js';
import type { Client } from './clients.js';
import type { Conn } from './conn.js';
import type { ForwardAddress, ForwardOptions } from './types.js';

const DEFAULT_BACKLOG = 4096;

export function describeListen(bind: BindChoice, port: number): string {
  if (bind.type === 'loopback') return `127.0.0.1:${port}`;
  if (bind.type === 'all') return `*:${port}`;
  return formatEndpoint({ type: 'tcp', host: bind.address, port });
}

/** A local listener shared by -L and -D: binds, accepts, and hands sockets on. */
export abstract class LocalListenerForward extends ForwardBase {
  #servers: net.Server[] = [];
  #bind: BindChoice | undefined;
  #port = 0;

  constructor(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}) {
    super(spec, opener, opts);
    if (spec.listen.type === 'tcp') this.#bind = bindChoice(spec.listen.bind, opts.gatewayPorts ?? false);
  }

  /** Handles one accepted, already owned connection. */
  protected abstract handle(c: Client, socket: net.Socket): void;

  /**
   * Handles one accepted connection that came as a Conn (conn.ts): a forward that
   * defines this gets its connections that way where Node allows, `handle` the rest.
   */
  protected handleConn?(c: Client, conn: Conn): void;

  protected override listenLabel(): string {
    const l = this.spec.listen;
    if (l.type === 'unix') return l.path;
    return describeListen(this.#bind as BindChoice, this.#port || l.port);
  }

  protected override async listen(): Promise<void> {
    const l = this.spec.listen;
    const o = {
      backlog: this.opts.backlog ?? DEFAULT_BACKLOG,
      onConnection: (s: net.Socket) => this.#accept(s),
      onConn: this.handleConn ? (c: Conn) => this.#acceptConn(c) : undefined,
    };
    if (l.type === 'unix') {
      this.#servers = [await listenUnix(l.path, o)];
      return;
    }
    const { warning } = checkLocalPort(l.port, { mayBindPrivileged: this.opts.mayBindPrivileged });
    if (warning) this.opts.bus?.emit({ type: 'warning', message: warning, code: 'PORT_EPHEMERAL' });
    this.#servers = await listenTcp(this.#bind as BindChoice, l.port, o);
    this.#port = (this.#servers[0]?.address() as net.AddressInfo).port;
  }

  protected override async unlisten(): Promise<void> {
    const servers = this.#servers;
    this.#servers = [];
    await Promise.all(servers.map(closeServer));
  }

  override address(): ForwardAddress | undefined {
    if (this.#servers.length === 0) return undefined;
    const l = this.spec.listen;
    if (l.type === 'unix') return { type: 'unix', path: l.path };
    return { type: 'tcp', port: this.#port, hosts: this.#servers.map((s) => (s.address() as net.AddressInfo).address) };
  }

  #accept(socket: net.Socket): void {
    const from = this.#fromOrDrop(socket);
    if (from === undefined) {
      socket.destroy();
      return;
    }
    this.handle(this.clients.add(socket, from), socket);
  }

  #acceptConn(conn: Conn): void {
    const from = this.#fromOrDrop(conn);
    if (from === undefined) {
      conn.destroy();
      return;
    }
    this.handleConn?.(this.clients.add(conn, from), conn);
  }

  /**
   * Where an accepted connection comes from (`host:port`, `local` on a unix socket), or
   * undefined when it is to be dropped: the forward no longer listens, or a TCP connection
   * has no peer. That one is closed already, reset by its client while it waited in the
   * listener's queue (this process busy or stopped). What it sent may still be readable,
   * then an end that looks like a half-close: open no channel for it.
   */
  #fromOrDrop(local: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): string | undefined {
    if (!this.accepting) return undefined;
    const peer = local.remoteAddress;
    if (peer === undefined && this.spec.listen.type === 'tcp') return undefined;
    return peer ? formatEndpoint({ type: 'tcp', host: peer, port: local.remotePort ?? 0 }) : 'local';
  }
}

/**
 * A local (-L) forward. Create it through `startForward`.
 */
export class LocalForward extends LocalListenerForward {
  readonly #target: TargetEndpoint;

  constructor(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}) {
    super(spec, opener, opts);
    if (spec.kind !== 'local' || !spec.target) {
      throw new BurrowError('BAD_FORWARD_SPEC', `'${spec.text}' is not a local forward with a target`, { phase: 'forward' });
    }
    this.#target = spec.target;
  }

  protected override targetLabel(): string {
    return formatEndpoint(this.#target);
  }

  protected override handle(c: Client, socket: net.Socket): void {
    c.open(this.targetLabel());
    c.admit(() => void this.#connect(c, socket));
  }

  protected override handleConn(c: Client, conn: Conn): void {
    c.open(this.targetLabel());
    c.admit(() => void this.#connect(c, conn));
  }

  async #connect(c: Client, socket: net.Socket | Conn): Promise<void> {
    const t = this.#target;
    const signal = this.clients.signal;
    const origin = { host: socket.remoteAddress ?? '127.0.0.1', port: socket.remotePort ?? 0 };
    try {
      const link = await this.opener.openLink(t.type === 'tcp' ? { type: 'tcp', host: t.host, port: t.port, origin } : { type: 'unix', path: t.path }, { signal });
      c.join(link);
    } catch (e) {
      c.fail(e);
    }
  }
}
