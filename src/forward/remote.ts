/**
 * `-R`: the server listens (`tcpip-forward` or `streamlocal-forward`); each
 * connection it hands us is joined to a local target (TCP or unix socket).
 */
import net from 'node:net';
import { BurrowError, toBurrowError } from '../errors.js';
import { formatEndpoint, type ForwardSpec, type TargetEndpoint } from '../config/forward-spec.js';
import type { ChannelOpener, IncomingChannel, RemoteListener } from '../ssh/channels.js';
import { ForwardBase } from './base.js';
import { dial, dialSupport } from './dial.js';
import { SOCKET_HIGH_WATER_MARK } from './pipe.js';
import type { ForwardAddress, ForwardOptions } from './types.js';

// net.Socket takes the Duplex option at runtime; @types/node leaves it out of connect's.
const socketBuffers = { highWaterMark: SOCKET_HIGH_WATER_MARK };

/** The bind address OpenSSH's client sends for a -R listen host. */
function remoteBind(bind: string | undefined): string {
  if (bind === undefined) return 'localhost';
  if (bind === '*') return '';
  return bind;
}

/**
 * A remote (-R) forward. Create it through `startForward`. With port 0 the server
 * picks the port: read it from `address()` or the `forward-listening` event.
 */
export class RemoteForward extends ForwardBase {
  readonly #target: TargetEndpoint;
  #listener: RemoteListener | undefined;

  constructor(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}) {
    super(spec, opener, opts);
    if (spec.kind !== 'remote' || !spec.target) {
      throw new BurrowError('BAD_FORWARD_SPEC', `'${spec.text}' is not a remote forward with a target`, { phase: 'forward' });
    }
    this.#target = spec.target;
  }

  protected override listenLabel(): string {
    const l = this.spec.listen;
    if (l.type === 'unix') return l.path;
    const host = l.bind === undefined ? 'localhost' : l.bind;
    return formatEndpoint({ type: 'tcp', host, port: this.#listener?.port ?? l.port });
  }

  protected override targetLabel(): string {
    return formatEndpoint(this.#target);
  }

  protected override async listen(): Promise<void> {
    const l = this.spec.listen;
    const onConnection = (c: IncomingChannel) => this.#incoming(c);
    try {
      this.#listener =
        l.type === 'unix'
          ? await this.opener.listenUnix(l.path, onConnection)
          : await this.opener.listenTcp(remoteBind(l.bind), l.port, onConnection);
    } catch (e) {
      const be = toBurrowError(e, 'FORWARD_REFUSED', 'forward');
      if (be.code !== 'FORWARD_REFUSED') throw be;
      const where = l.type === 'unix' ? l.path : `port ${l.port}`;
      throw new BurrowError(
        'FORWARD_REFUSED',
        `${this.opener.destination} refused to listen on ${where}: it may be in use there or forwarding may be disabled (AllowTcpForwarding/AllowStreamLocalForwarding); pick another${l.type === 'tcp' ? ' or use 0' : ''}`,
        { phase: 'forward', cause: e, details: { spec: this.spec.text } },
      );
    }
  }

  protected override async unlisten(): Promise<void> {
    const l = this.#listener;
    this.#listener = undefined;
    await l?.close().catch(() => {}); // the session may already be gone
  }

  override address(): ForwardAddress | undefined {
    const r = this.#listener;
    if (!r) return undefined;
    const l = this.spec.listen;
    if (l.type === 'unix') return { type: 'unix', path: l.path };
    return { type: 'tcp', port: r.port, hosts: [remoteBind(l.bind) || '*'] };
  }

  #incoming(inc: IncomingChannel): void {
    if (!this.accepting) {
      inc.reject();
      return;
    }
    const t = this.#target;
    const from = formatEndpoint({ type: 'tcp', host: inc.origin.host, port: inc.origin.port });
    const acceptLink = inc.acceptLink?.bind(inc);
    if (t.type === 'tcp' && acceptLink && dialSupport()) {
      // A Conn and a Link: no net.Socket or Channel unless it moves more than a little.
      const conn = dial(t.host, t.port, (err) => {
        if (err) {
          inc.reject();
          c.fail(this.#unreachable(err));
        } else if (c.ended) inc.reject();
        else c.join(acceptLink());
      });
      const c = this.clients.add(conn, from);
      c.open(this.targetLabel());
      return;
    }
    // allowHalfOpen: the server's EOF must not close our write side early. Options
    // without a prototype: Node's Socket copies them with a spread, which on Node 20
    // makes new maps per socket from any other object (accept.ts).
    const socket =
      t.type === 'tcp'
        ? net.connect({ __proto__: null, host: t.host, port: t.port, allowHalfOpen: true, noDelay: true, ...socketBuffers } as net.NetConnectOpts)
        : net.connect({ __proto__: null, path: t.path, allowHalfOpen: true, ...socketBuffers } as net.NetConnectOpts);
    const c = this.clients.add(socket, from);
    c.open(this.targetLabel());
    let connected = false;
    socket.once('error', (e) => {
      if (!connected) {
        inc.reject();
        c.fail(this.#unreachable(e));
      }
    });
    socket.once('connect', () => {
      connected = true;
      if (c.ended) {
        inc.reject();
        return;
      }
      c.join(inc.acceptLink ? inc.acceptLink() : inc.accept());
    });
  }

  #unreachable(e: Error): BurrowError {
    return new BurrowError('CONNECT_FAILED', `cannot reach ${this.targetLabel()}: ${e.message}; is the local service running?`, { phase: 'forward', cause: e });
  }
}
