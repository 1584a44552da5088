/**
 * A ChannelOpener over a bare ssh2 Client, for forward tests against a real sshd.
 * The real one is `Session` (src/ssh/session.ts); this stays small on purpose.
 */
import { readFileSync } from 'node:fs';
import { Client, type ClientChannel, type TcpConnectionDetails, type UNIXConnectionDetails, type AcceptConnection, type RejectConnection } from 'ssh2';
import type { Duplex } from 'node:stream';
import type { ChannelOpener, Endpoint, IncomingChannel, RemoteListener } from '../../src/ssh/channels.js';
import { BurrowError, abortError } from '../../src/errors.js';
import { Link, type LinkTarget } from '../../src/ssh/link.js';
import type { Sshd } from '../helpers/sshd.js';

export interface Ssh2Opener extends ChannelOpener {
  client: Client;
  end(): void;
}

type Handler = (c: IncomingChannel) => void;

function channelOpen<T>(signal: AbortSignal | undefined, start: (cb: (err: Error | undefined, ch: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, 'channel open'));
    start((err, ch) => {
      if (err) {
        reject(new BurrowError('CHANNEL_OPEN_FAILED', err.message, { phase: 'channel', cause: err, details: { reason: (err as { reason?: unknown }).reason } }));
      } else if (signal?.aborted) {
        if (ch instanceof Link) ch.close();
        else (ch as ClientChannel).destroy();
        reject(abortError(signal, 'channel open'));
      } else {
        resolve(ch);
      }
    });
  });
}

export async function connectOpener(sshd: Sshd, destination = 'test-sshd'): Promise<Ssh2Opener> {
  const client = new Client();
  const tcp = new Map<number, Handler>();
  const unix = new Map<string, Handler>();
  client.on('error', () => {});
  client.on('tcp connection', (d: TcpConnectionDetails, accept: AcceptConnection<ClientChannel>, reject: RejectConnection) => {
    const h = tcp.get(d.destPort);
    if (!h) return reject();
    h({ origin: { host: d.srcIP, port: d.srcPort }, accept: () => accept(), reject: () => reject() });
  });
  client.on('unix connection', (d: UNIXConnectionDetails, accept: AcceptConnection, reject: RejectConnection) => {
    const h = unix.get(d.socketPath);
    if (!h) return reject();
    h({ origin: { host: 'unix', port: 0 }, accept: () => accept(), reject: () => reject() });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKeyPath),
      hostVerifier: () => true,
    });
  });

  return {
    client,
    destination,
    end: () => client.end(),
    openTcp(target: Endpoint, origin: Endpoint, opts?: { signal?: AbortSignal }): Promise<Duplex> {
      return channelOpen(opts?.signal, (cb) => client.forwardOut(origin.host, origin.port, target.host, target.port, cb));
    },
    openUnix(path: string, opts?: { signal?: AbortSignal }): Promise<Duplex> {
      return channelOpen(opts?.signal, (cb) => client.openssh_forwardOutStreamLocal(path, cb));
    },
    openLink(target: LinkTarget, opts?: { signal?: AbortSignal }): Promise<Link> {
      return channelOpen<Link>(opts?.signal, (cb) => Link.open(client, target, (err, link) => cb(err, link as Link)));
    },
    listenTcp(bind: string, port: number, onConnection: Handler): Promise<RemoteListener> {
      return new Promise((resolve, reject) => {
        client.forwardIn(bind, port, (err, allocated) => {
          if (err) return reject(new BurrowError('FORWARD_REFUSED', err.message, { phase: 'forward', cause: err }));
          const p = port === 0 ? allocated : port;
          tcp.set(p, onConnection);
          resolve({
            port: p,
            close: () =>
              new Promise<void>((res) => {
                tcp.delete(p);
                client.unforwardIn(bind, p, () => res());
              }),
          });
        });
      });
    },
    listenUnix(path: string, onConnection: Handler): Promise<RemoteListener> {
      return new Promise((resolve, reject) => {
        client.openssh_forwardInStreamLocal(path, (err?: Error | null) => {
          if (err) return reject(new BurrowError('FORWARD_REFUSED', err.message, { phase: 'forward', cause: err }));
          unix.set(path, onConnection);
          resolve({
            port: 0,
            close: () =>
              new Promise<void>((res) => {
                unix.delete(path);
                client.openssh_unforwardInStreamLocal(path, () => res());
              }),
          });
        });
      });
    },
  };
}
