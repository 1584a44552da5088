/**
 * The byte stream an SSH connection runs over: a TCP socket, a ProxyCommand child's
 * stdio, or a channel of the previous hop of a ProxyJump chain.
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import { BurrowError } from '../errors.js';
import { ReadArena } from './read-arena.js';
import { tuneAllocator } from './malloc-tune.js';
import { socketFd } from './native-rx.js';
import { sendOne, sendv } from './sendv.js';
import type { ResolvedHost } from '../config/types.js';

export interface Transport {
  stream: Duplex;
  /** Human description for messages (`10.0.0.1:22`, `proxy command ...`, `via lander`). */
  describe: string;
  /** Releases what the transport owns (the child process, the hop's lease). */
  dispose(): void;
}

/**
 * Carries a ProxyJump hop's channel to the inner connection some other way than as the
 * channel itself (forward/hop-carrier.ts: over a socketpair); undefined when it cannot,
 * and the inner connection runs on the channel. The transport's `dispose` ends the
 * channel too.
 */
export type HopCarrier = (channel: Duplex, describe: string) => Transport | undefined;

/**
 * Ends a hop's channel at once. ssh2's Channel.destroy() only asks the hop to close (and
 * waits for its answer, which a dead link never brings); the stream's own destroy ends it
 * here too.
 */
export function destroyHop(channel: Duplex): void {
  channel.destroy();
  Duplex.prototype.destroy.call(channel);
}

function connectError(e: NodeJS.ErrnoException, host: string, port: number): BurrowError {
  const where = `${host} port ${port}`;
  switch (e.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BurrowError('DNS_FAILED', `could not resolve hostname ${host}: ${e.code === 'EAI_AGAIN' ? 'temporary failure in name resolution' : 'name or service not known'}`, { phase: 'connect', cause: e });
    case 'ECONNREFUSED':
      return new BurrowError('CONNECT_FAILED', `connect to ${where}: connection refused (is sshd running there?)`, { phase: 'connect', cause: e });
    case 'ETIMEDOUT':
      return new BurrowError('CONNECT_TIMEOUT', `connect to ${where}: timed out`, { phase: 'connect', cause: e });
    default:
      return new BurrowError('CONNECT_FAILED', `connect to ${where}: ${e.message}`, { phase: 'connect', cause: e });
  }
}

/** Direct TCP, honouring ConnectTimeout and AddressFamily. */
export async function connectTcp(cfg: ResolvedHost, signal?: AbortSignal): Promise<Transport> {
  const { hostname: host, port } = cfg;
  const family = cfg.addressFamily === 'inet' ? 4 : cfg.addressFamily === 'inet6' ? 6 : 0;
  const timeout = cfg.connectTimeout ? AbortSignal.timeout(cfg.connectTimeout * 1000) : undefined;
  const abort = signal && timeout ? AbortSignal.any([signal, timeout]) : (signal ?? timeout);
  const socket = transportSocket((onread) => net.connect({ host, port, family, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000, autoSelectFamily: family === 0, onread }));
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      socket.destroy();
      if (timeout?.aborted) reject(new BurrowError('CONNECT_TIMEOUT', `connect to ${host} port ${port}: timed out after ${cfg.connectTimeout}s (ConnectTimeout)`, { phase: 'connect' }));
      else reject(new BurrowError('ABORTED', 'connect aborted', { phase: 'connect', cause: signal?.reason }));
    };
    abort?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      abort?.removeEventListener('abort', onAbort);
      resolve();
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      abort?.removeEventListener('abort', onAbort);
      reject(connectError(e, host, port));
    });
  });
  socket.on('error', () => {}); // later errors surface through ssh2's own handler
  return { stream: socket, describe: `${host} port ${port}`, dispose: () => socket.destroy() };
}

/**
 * A socket for an SSH connection, made by `make` with the `onread` given: it reads into
 * reused memory (read-arena.ts), its writableLength counts each byte until Node is done
 * with the memory (ssh2 may cut outgoing packets from memory it reuses,
 * patches/README.md), and lone packets go straight to the kernel (`directWrites`).
 */
function transportSocket(make: (onread: net.OnReadOpts) => net.Socket): net.Socket {
  tuneAllocator();
  const arena = new ReadArena();
  const socket = make(arena.onread);
  arena.attach(socket);
  (socket as net.Socket & { ssh2ReuseWrites?: boolean }).ssh2ReuseWrites = true;
  directWrites(socket);
  return socket;
}

/**
 * An SSH transport on descriptor `fd`, a connected stream socket of this process (the
 * inner end of a ProxyJump hop's socketpair, forward/hop-carrier.ts), made as a TCP
 * connection's is.
 */
export function fdTransportSocket(fd: number): net.Socket {
  return transportSocket((onread) => new net.Socket({ fd, readable: true, writable: true, onread } as net.SocketConstructorOpts));
}

/**
 * Packets that went to the kernel at once (`[direct write]`), their bytes, and those of
 * them the kernel took only part of (the rest went to Node's write), all connections
 * together (tests, diagnostics).
 */
export const directWriteCounters = { packets: 0, bytes: 0, partial: 0 };

/**
 * BURROW_DIRECT_WRITE_CAP=n: at most n bytes of a packet go to the kernel at once, the
 * rest through Node's write, as when the socket's buffer is nearly full (tests).
 */
const DIRECT_CAP = Number(process.env.BURROW_DIRECT_WRITE_CAP) || 0;

/** The largest packet sent on its own: a control message, a short request or reply. */
const LONE_PACKET_MAX = 16 * 1024;

/**
 * The first packet ssh2 makes in a turn of the event loop, when Node holds nothing for the
 * socket, goes to the kernel at once (the ssh2 patch's `[direct write]`). A new
 * connection's open, its few bytes, its EOF and CLOSE then skip Node's write, its
 * callbacks and the cork around it: JavaScript that a bulk transfer, sealed natively,
 * leaves cold (bench/HISTORY.md, sessions 40 and 44).
 */
function directWrites(socket: net.Socket): void {
  if (sendv === undefined || process.env.BURROW_NO_DIRECT_WRITE) return;
  (socket as net.Socket & { ssh2DirectWrite?: (data: Uint8Array) => number }).ssh2DirectWrite = (data) => {
    // A large packet seldom leaves alone (ssh2 makes an upload's two per 64 KiB in one
    // tick): it waits to go with the others in one writev(2), as before.
    if (data.length > LONE_PACKET_MAX) return -1;
    const sent = sendOne(socketFd(socket), DIRECT_CAP > 0 && data.length > DIRECT_CAP ? data.subarray(0, DIRECT_CAP) : data);
    if (sent > 0) {
      directWriteCounters.packets++;
      directWriteCounters.bytes += sent;
      if (sent < data.length) directWriteCounters.partial++;
    }
    return sent;
  };
}

/**
 * ProxyCommand: the child's stdout/stdin are the transport; its stderr goes to ours,
 * as with ssh. The child is ended with the session.
 */
export async function spawnProxyCommand(command: string, stderr: 'inherit' | 'ignore' = 'inherit'): Promise<Transport> {
  const child: ChildProcess = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', stderr] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new BurrowError('PROXY_COMMAND_FAILED', `cannot run ProxyCommand '${command}': ${e.message}`, { phase: 'connect', cause: e })));
  });
  const stdin = child.stdin!;
  const stdout = child.stdout!;
  stdin.on('error', () => {});
  stdout.on('error', () => {});
  const stream = Duplex.from({ readable: stdout, writable: stdin });
  stream.on('error', () => {});
  child.once('exit', (code, sig) => {
    if (!stream.destroyed) {
      stream.destroy(new BurrowError('PROXY_COMMAND_FAILED', `ProxyCommand '${command}' exited (${sig ?? `status ${code}`})`, { phase: 'connect' }));
    }
  });
  return {
    stream,
    describe: `proxy command '${command}'`,
    dispose: () => {
      stream.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 2000);
        t.unref();
        child.once('exit', () => clearTimeout(t));
      }
    },
  };
}

/** One hop of `ProxyJump`/`-J`: `[user@]host[:port]`. */
export interface JumpHop {
  user?: string;
  host: string;
  port?: number;
  text: string;
}

export function parseProxyJump(value: string): JumpHop[] {
  return value.split(',').map((raw) => {
    const text = raw.trim();
    let rest = text.replace(/^ssh:\/\//, '');
    let user: string | undefined;
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      user = rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
    let host = rest;
    let port: number | undefined;
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
    if (m) {
      host = m[1] ?? rest;
      if (m[2]) port = Number(m[2]);
    }
    if (!host || (port !== undefined && !(port > 0 && port < 65536))) {
      throw new BurrowError('CONFIG', `bad ProxyJump hop '${text}': expected [user@]host[:port]`, { phase: 'config' });
    }
    return { user, host, port, text };
  });
}
