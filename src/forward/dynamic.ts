/**
 * `-D`: a local SOCKS server (SOCKS5 no-auth, SOCKS4, SOCKS4a; CONNECT only). Each
 * request becomes a `direct-tcpip` channel to the host the client names, resolved
 * on the server side.
 */
import type net from 'node:net';
import { BurrowError } from '../errors.js';
import { formatEndpoint, type ForwardSpec } from '../config/forward-spec.js';
import type { ChannelOpener } from '../ssh/channels.js';
import { LocalListenerForward } from './local.js';
import type { Client } from './clients.js';
import { SocksHandshake, connectReply, replyCodeFor, Socks5Reply, type SocksRequest } from './socks.js';
import type { ForwardOptions } from './types.js';

/**
 * A dynamic (-D) forward. Create it through `startForward`.
 */
export class DynamicForward extends LocalListenerForward {
  constructor(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}) {
    super(spec, opener, opts);
    if (spec.kind !== 'dynamic') {
      throw new BurrowError('BAD_FORWARD_SPEC', `'${spec.text}' is not a dynamic forward`, { phase: 'forward' });
    }
  }

  protected override targetLabel(): string {
    return 'SOCKS';
  }

  protected override handle(c: Client, socket: net.Socket): void {
    const hs = new SocksHandshake();
    // A client that connects and says nothing must not hold a slot forever.
    socket.setTimeout((this.opts.socksHandshakeTimeout ?? 30) * 1000, () =>
      c.fail(new BurrowError('SOCKS_PROTOCOL', 'SOCKS client sent no request in time', { phase: 'forward' })),
    );
    const onData = (chunk: Buffer): void => {
      const step = hs.push(chunk);
      if (step.type === 'more') {
        if (step.reply) socket.write(step.reply);
        return;
      }
      // Stop reading until the channel is open: later bytes wait in the socket.
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      socket.setTimeout(0);
      if (step.type === 'fail') {
        c.fail(new BurrowError('SOCKS_PROTOCOL', `SOCKS: ${step.message}`, { phase: 'forward' }), step.reply ?? Buffer.alloc(0));
        return;
      }
      if (step.reply) socket.write(step.reply);
      if (step.rest.length > 0) socket.unshift(step.rest);
      c.admit(() => void this.#connect(c, socket, step.request));
    };
    // The client hung up before finishing its request (we listen half-open).
    const onEnd = (): void => c.destroy();
    socket.on('data', onData);
    socket.once('end', onEnd);
  }

  async #connect(c: Client, socket: net.Socket, req: SocksRequest): Promise<void> {
    c.open(formatEndpoint({ type: 'tcp', host: req.host, port: req.port }));
    let channel;
    try {
      const origin = { host: socket.remoteAddress ?? '127.0.0.1', port: socket.remotePort ?? 0 };
      channel = await this.opener.openLink({ type: 'tcp', host: req.host, port: req.port, origin }, { signal: this.clients.signal });
    } catch (e) {
      c.fail(e, connectReply(req.version, replyCodeFor(e)));
      return;
    }
    if (c.ended || socket.destroyed) {
      c.join(channel); // disposes of it
      return;
    }
    socket.write(connectReply(req.version, Socks5Reply.SUCCEEDED));
    c.join(channel);
  }
}
