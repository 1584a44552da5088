/**
 * Accepted connections become `net.Socket`s as Node makes them, minus one cost of
 * Node 20's V8 (11.3).
 *
 * `net.Socket`'s constructor starts with `options = { ...options }` and then adds
 * four properties. Once that spread's inline cache is warm, V8 gives each copy a map of
 * its own, and each property added makes one more: three new maps and descriptor
 * arrays per socket, and every later read of those options (the stream states read a
 * dozen) misses its inline cache. Measured here: 8.9 µs to build a Duplex that way
 * against 0.7 µs from a copy with a shared map, and `--log-maps` shows three map
 * transitions per accepted connection, the only maps a forwarded connection makes
 * (bench/HISTORY.md, session 30). A source object without a prototype takes V8's other
 * path, where the copies share their maps.
 *
 * Node builds the options of an accepted socket itself, in the listening handle's
 * `onconnection`. This replaces that callback with the same steps, given a prototype-free
 * options object: the socket, its server's connection count (which `server.close()`
 * waits on, and which the socket's destroy takes back), no-delay as the server was
 * asked, the diagnostics channel, then 'connection'. An error, a `maxConnections` limit,
 * or a Node without these internals goes to Node's own code.
 *
 * A listener that takes `Conn`s (`-L`) gets no socket at all: the handle becomes a Conn
 * (conn.ts), which makes a socket only if the connection grows.
 */
import { channel } from 'node:diagnostics_channel';
import net from 'node:net';
import { Conn, connSupport, type Handle } from './conn.js';

/** What `newServer` asks of every accepted socket. */
export interface AcceptOptions {
  allowHalfOpen: boolean;
  noDelay: boolean;
  highWaterMark: number;
}

interface ServerInternals {
  _handle?: { onconnection?: (err: number, clientHandle?: unknown) => void } | null;
  _connections?: number;
  maxConnections?: number;
}

const serverSocket = channel('net.server.socket');

/**
 * Installs the accept path on a listening `server`; false (nothing changed) where it
 * cannot. With `onConn`, connections are handed over as `Conn`s (conn.ts) instead of
 * sockets where this Node allows it; they are not counted as the server's connections
 * (their owner closes them).
 */
export function acceptWithSharedMaps(server: net.Server, opts: AcceptOptions, onConn?: (c: Conn) => void): boolean {
  const s = server as net.Server & ServerInternals;
  const handle = s._handle;
  const nodes = handle?.onconnection;
  if (!handle || typeof nodes !== 'function' || nodes.length !== 2 || typeof s._connections !== 'number') return false;
  handle.onconnection = function onconnection(this: unknown, err: number, clientHandle?: unknown): void {
    if (err || clientHandle === undefined || s.maxConnections) {
      nodes.call(this, err, clientHandle);
      return;
    }
    if (onConn !== undefined && connSupport(clientHandle)) {
      const h = clientHandle as Handle & { setNoDelay?: (on: boolean) => number };
      const tcp = typeof h.setNoDelay === 'function';
      if (tcp && opts.noDelay) h.setNoDelay?.(true);
      onConn(new Conn(h, tcp));
      return;
    }
    const socket = new net.Socket({
      __proto__: null,
      handle: clientHandle,
      allowHalfOpen: opts.allowHalfOpen,
      pauseOnCreate: false,
      readable: true,
      writable: true,
      readableHighWaterMark: opts.highWaterMark,
      writableHighWaterMark: opts.highWaterMark,
    } as net.SocketConstructorOpts);
    if (opts.noDelay) socket.setNoDelay(true);
    (s._connections as number)++;
    const internal = socket as net.Socket & { server?: net.Server; _server?: net.Server };
    internal.server = server;
    internal._server = server;
    server.emit('connection', socket);
    if (serverSocket.hasSubscribers) serverSocket.publish({ socket });
  };
  return true;
}
