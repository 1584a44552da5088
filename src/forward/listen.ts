/**
 * Local listeners for -L and -D: TCP on loopback (both families, one port), on all
 * interfaces or on one address, and unix sockets (stale file removed, mode 0600).
 */
import net from 'node:net';
import { lstat, unlink, chmod } from 'node:fs/promises';
import { BurrowError } from '../errors.js';
import { portInUseError } from '../config/ports.js';
import { SOCKET_HIGH_WATER_MARK } from './pipe.js';
import { acceptWithSharedMaps, type AcceptOptions } from './accept.js';
import type { Conn } from './conn.js';

export type BindChoice = { type: 'loopback' } | { type: 'all' } | { type: 'address'; address: string };

/**
 * Where a local listener binds, after OpenSSH's client rules: no address → loopback
 * (all interfaces with GatewayPorts); `localhost` → loopback; `*` or empty → all
 * interfaces; anything else → that address.
 */
export function bindChoice(bind: string | undefined, gatewayPorts: boolean): BindChoice {
  if (bind === undefined) return gatewayPorts ? { type: 'all' } : { type: 'loopback' };
  if (bind === '*' || bind === '') return { type: 'all' };
  if (bind === 'localhost') return { type: 'loopback' };
  return { type: 'address', address: bind };
}

export interface ListenOptions {
  backlog: number;
  onConnection: (s: net.Socket) => void;
  /** Takes accepted connections as `Conn`s where this Node allows (conn.ts); `onConnection` gets the rest. */
  onConn?: (c: Conn) => void;
}

const NO_FAMILY = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT']);

// allowHalfOpen: each direction ends on its own, as in OpenSSH. noDelay: without it,
// small writes wait for ACKs (Nagle), which stalls interactive use; set on the accepted
// handle (a no-op on unix sockets) before any JavaScript sees the socket.
const ACCEPT: AcceptOptions = { allowHalfOpen: true, noDelay: true, highWaterMark: SOCKET_HIGH_WATER_MARK };

function newServer(o: ListenOptions): net.Server {
  const s = net.createServer({ ...ACCEPT, pauseOnConnect: false }, o.onConnection);
  s.on('error', () => {}); // errors after listen (EMFILE on accept) must not crash us
  // Once the handle exists, before the first accept (accept.ts).
  s.once('listening', () => acceptWithSharedMaps(s, ACCEPT, o.onConn));
  return s;
}

function listenOn(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export function closeServer(s: net.Server): Promise<void> {
  return new Promise((r) => (s.listening ? s.close(() => r()) : r()));
}

async function bindError(e: unknown, port: number, bind: string | undefined): Promise<BurrowError> {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return portInUseError(port, bind, e);
  if (code === 'EACCES') {
    return new BurrowError('PORT_PRIVILEGED', `not allowed to listen on port ${port}; pick one in 1024-49151 or use 0`, {
      phase: 'forward',
      cause: e,
      details: { port },
    });
  }
  return new BurrowError('BIND_FAILED', `cannot listen on ${bind ?? 'localhost'}:${port}: ${(e as Error).message}; check the bind address`, {
    phase: 'forward',
    cause: e,
    details: { port, ...(bind ? { bind } : {}) },
  });
}

/** Listens on 127.0.0.1 and ::1 on the same port (the OS's pick when 0). */
async function listenLoopback(port: number, o: ListenOptions): Promise<net.Server[]> {
  for (let attempt = 0; ; attempt++) {
    const v4 = newServer(o);
    try {
      await listenOn(v4, { host: '127.0.0.1', port, backlog: o.backlog });
    } catch (e) {
      throw await bindError(e, port, undefined);
    }
    const chosen = (v4.address() as net.AddressInfo).port;
    const v6 = newServer(o);
    try {
      await listenOn(v6, { host: '::1', port: chosen, backlog: o.backlog, ipv6Only: true });
      return [v4, v6];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (NO_FAMILY.has(code)) return [v4]; // no IPv6 loopback here
      await closeServer(v4);
      // The OS gave us a v4 port that is taken on v6: ask again.
      if (port === 0 && code === 'EADDRINUSE' && attempt < 20) continue;
      throw await bindError(e, chosen, '::1');
    }
  }
}

async function listenAll(port: number, o: ListenOptions): Promise<net.Server[]> {
  const s = newServer(o);
  try {
    await listenOn(s, { host: '::', port, backlog: o.backlog, ipv6Only: false });
    return [s];
  } catch (e) {
    if (!NO_FAMILY.has((e as NodeJS.ErrnoException).code ?? '')) throw await bindError(e, port, '*');
  }
  const s4 = newServer(o);
  try {
    await listenOn(s4, { host: '0.0.0.0', port, backlog: o.backlog });
  } catch (e) {
    throw await bindError(e, port, '*');
  }
  return [s4];
}

/** Listens for TCP as `bind` says. */
export async function listenTcp(bind: BindChoice, port: number, o: ListenOptions): Promise<net.Server[]> {
  if (bind.type === 'loopback') return listenLoopback(port, o);
  if (bind.type === 'all') return listenAll(port, o);
  const s = newServer(o);
  try {
    await listenOn(s, { host: bind.address, port, backlog: o.backlog });
  } catch (e) {
    throw await bindError(e, port, bind.address);
  }
  return [s];
}

/** True when something accepts connections on the unix socket at `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Listens on a unix socket, mode 0600. A socket file left by a dead process is
 * removed; one with a live listener, or a file that is not a socket, is an error.
 */
export async function listenUnix(path: string, o: ListenOptions): Promise<net.Server> {
  const st = await lstat(path).catch(() => undefined);
  if (st) {
    const fail = (why: string) =>
      new BurrowError('BIND_FAILED', `cannot listen on ${path}: ${why}; pick another path`, { phase: 'forward', details: { path } });
    if (!st.isSocket()) throw fail('the file exists and is not a socket');
    if (await socketAlive(path)) throw fail('another program is listening on it');
    await unlink(path).catch(() => {});
  }
  const s = newServer(o);
  const ready = new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.once('listening', () => {
      s.off('error', reject);
      resolve();
    });
  });
  // The socket is bound inside listen(), synchronously: a umask set around that call
  // makes it private from the moment it exists. chmod covers worker threads, where
  // umask cannot be set.
  let old: number | undefined;
  try {
    old = process.umask(0o177);
  } catch {
    old = undefined;
  }
  try {
    s.listen({ path, backlog: o.backlog });
  } finally {
    if (old !== undefined) process.umask(old);
  }
  try {
    await ready;
  } catch (e) {
    throw new BurrowError('BIND_FAILED', `cannot listen on ${path}: ${(e as Error).message}; check the directory exists and is writable`, {
      phase: 'forward',
      cause: e,
      details: { path },
    });
  }
  await chmod(path, 0o600);
  return s;
}
