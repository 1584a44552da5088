/**
 * The embedded SSH server behind `burrow demo`: ssh2's `Server` on loopback with a fresh
 * ed25519 host key, real authentication, `-L`/`-R` style forwarding restricted to
 * loopback, and a harmless `exec`/`shell`. Tests use it as a stand-in for sshd.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { type Connection } from 'ssh2';
import { BurrowError } from '../errors.js';
import { DisposableStore } from '../lifecycle.js';
import { createAuthenticator, type AuthOptions } from './auth.js';
import { reasonedRejecter, type Closeable, type ConnContext, type DemoServerStats } from './context.js';
import { onDirectStreamLocal, onDirectTcpip } from './direct.js';
import { generateHostKey, knownHostsPattern } from './host-key.js';
import { isLoopbackHost } from './loopback.js';
import { RemoteForwards } from './remote-forward.js';
import { onSession } from './session.js';

export interface DemoSshServerOptions extends AuthOptions {
  /** Loopback only. Default 127.0.0.1. */
  host?: '127.0.0.1' | '::1';
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** Run `exec` requests with `/bin/sh -c` instead of the built-ins. Default false. */
  allowExec?: boolean;
}

export interface DemoSshServer {
  readonly host: string;
  readonly port: number;
  /** user → password; a random password for `demo` when no auth method was given. */
  readonly users: Readonly<Record<string, string>>;
  /** `ssh-ed25519 AAAA...` */
  readonly hostPublicKey: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** A known_hosts line for this server: `[127.0.0.1]:port ssh-ed25519 AAAA...` by default. */
  hostKeyLine(hostPattern?: string): string;
  /** A snapshot of the counters. */
  readonly stats: DemoServerStats;
  /** Ends every connection, channel and listener; resolves when all sockets are closed. */
  close(): Promise<void>;
}

/** How long close() lets clients take the disconnect before it cuts their sockets. */
const CLOSE_GRACE_MS = 1000;

/**
 * Starts the demo SSH server.
 *
 * @example
 * const srv = await startDemoSshServer({ users: { demo: 's3cret' } });
 * await writeFile(knownHosts, srv.hostKeyLine() + '\n');
 * // ssh -p srv.port -o UserKnownHostsFile=knownHosts demo@127.0.0.1
 * await srv.close();
 */
export async function startDemoSshServer(opts: DemoSshServerOptions = {}): Promise<DemoSshServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    throw new BurrowError('USAGE', `the demo SSH server listens on loopback only, not ${host}`, { phase: 'config' });
  }
  const noAuth = !opts.users && !opts.authorizedKeys?.length && !opts.keyboardInteractive;
  const users = noAuth ? { demo: randomBytes(12).toString('base64url') } : { ...(opts.users ?? {}) };
  const authenticate = createAuthenticator({ ...opts, users });
  const key = generateHostKey();
  const stats: DemoServerStats = { connections: 0, channels: 0, refused: 0, openConnections: 0, openChannels: 0 };
  const store = new DisposableStore();
  const sockets = new Set<Socket>();

  const ssh = new ssh2.Server({ hostKeys: [key.privateKey], ident: 'burrow-demo' });
  const conns = new Set<Connection>();
  ssh.on('connection', (conn: Connection) => {
    stats.connections++;
    stats.openConnections++;
    conns.add(conn);
    const connStore = new DisposableStore();
    conn.on('error', () => undefined);
    conn.once('close', () => {
      stats.openConnections--;
      conns.delete(conn);
      connStore.dispose();
    });
    // Auth attempts are sequential: the last user named before `ready` is the one let in.
    let user = '';
    conn.on('authentication', (ctx) => {
      user = ctx.username;
      authenticate(ctx);
    });
    conn.on('ready', () => wireChannels(conn, user, connStore, stats, opts.allowExec ?? false));
  });
  store.defer(() => {
    for (const conn of conns) conn.end();
  });

  const tcp = createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new BurrowError(err.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'BIND_FAILED',
          `demo SSH server cannot listen on ${host}:${opts.port ?? 0}: ${err.code ?? err.message}; pick another port or use 0`,
          { phase: 'forward', cause: err, details: { port: opts.port ?? 0 } }),
      ),
    );
    tcp.listen({ host, port: opts.port ?? 0 }, resolve);
  });
  tcp.on('error', () => undefined);
  const port = (tcp.address() as { port: number }).port;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    users,
    hostPublicKey: key.publicKey,
    fingerprint: key.fingerprint,
    hostKeyLine: (pattern = knownHostsPattern(host, port)) => `${pattern} ${key.publicKey}`,
    get stats() {
      return { ...stats };
    },
    close() {
      closing ??= (async () => {
        const listenerClosed = new Promise<void>((resolve) => tcp.close(() => resolve()));
        store.dispose();
        await allClosed(sockets, AbortSignal.timeout(CLOSE_GRACE_MS));
        await listenerClosed;
      })();
      return closing;
    },
  };
}

/** Hooks the channel handlers onto an authenticated connection. */
function wireChannels(
  conn: Connection,
  username: string,
  connStore: DisposableStore,
  stats: DemoServerStats,
  allowExec: boolean,
): void {
  const refuseWith = reasonedRejecter(conn);
  const owned = new Set<Closeable>();
  const channels = new Set<Duplex>();
  connStore.defer(() => {
    stats.openChannels -= channels.size;
    channels.clear();
    for (const t of owned) {
      if (t.destroy) t.destroy();
      else t.kill?.('SIGKILL');
    }
    owned.clear();
  });
  const ctx: ConnContext = {
    conn,
    username,
    allowExec,
    refuse(reject, reason, description) {
      stats.refused++;
      refuseWith(reject, reason, description);
    },
    refused: () => void stats.refused++,
    track(channel) {
      stats.channels++;
      stats.openChannels++;
      channels.add(channel);
      channel.on('error', () => channel.destroy());
      channel.once('close', () => {
        if (channels.delete(channel)) stats.openChannels--;
      });
    },
    own(thing) {
      owned.add(thing);
      thing.once('close', () => owned.delete(thing));
    },
    onEnd: (fn) => void connStore.defer(fn),
  };
  const forwards = new RemoteForwards(ctx);
  conn.on('session', (accept) => onSession(ctx, accept));
  conn.on('tcpip', (accept, reject, info) => onDirectTcpip(ctx, accept, reject, info));
  conn.on('openssh.streamlocal', (accept, reject, info) => onDirectStreamLocal(ctx, accept, reject, info));
  conn.on('request', (accept, reject, name, info) => forwards.onRequest(accept, reject, name, info));
}

/** Waits for every socket to close; when `signal` fires first, destroys the rest. */
async function allClosed(sockets: Set<Socket>, signal: AbortSignal): Promise<void> {
  const pending = [...sockets].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
  const cut = new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => {
      for (const s of sockets) s.destroy();
      resolve();
    }, { once: true }),
  );
  await Promise.race([Promise.all(pending), cut]);
  await Promise.all(pending);
}
