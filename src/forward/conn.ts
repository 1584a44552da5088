/**
 * A connection without a `net.Socket` (accepted by a listener, or dialed to a `-R`
 * target: dial.ts), while it carries a request and a reply.
 *
 * A `net.Socket` is a Readable and a Writable with their state machines, events and
 * ticks: measured here, an echo server built on Node's accepted handles directly spent
 * 0.04 CPU-ms per connection where the same server on `net.Socket`s spent 0.18, and
 * answered in 0.04 ms instead of 0.08-0.12 (bench/HISTORY.md, session 38). That is most
 * of what a short forwarded connection costs burrow. A `Conn` drives the handle Node
 * accepted (its TCP or pipe wrap: read, write, shutdown, close, reset) with one callback
 * object and no events. Once the connection moves more than a little, or anything would
 * have to wait, `toSocket()` hands the handle to a `net.Socket` that goes on from the
 * same state, and the streams' join takes over (link-join.ts).
 *
 * Node offers no public way to do this: the handle methods and `streamBaseState` (where
 * a read's size or error is left) come from `process.binding`, present in Node 16-22.
 * Where any of it is missing, `connSupport()` is false and listeners make sockets as before.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { sendDirect } from './sink.js';

const UV_EOF = -4095;
const UV_ECANCELED = -125;
const UV_ENOTCONN = -107;
/** A closed handle's read callback (Node checks that there is a function). */
const noop = (): void => {};

interface Req {
  handle: Handle;
  buffer?: Uint8Array;
  oncomplete: (status: number) => void;
}

/** Node's TCP or pipe wrap, as its stream_base and tcp_wrap give it. */
export interface Handle {
  onread: (ab: ArrayBuffer | undefined) => void;
  reading?: boolean;
  readonly fd: number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: Req, data: Uint8Array): number;
  shutdown(req: Req): number;
  close(cb?: () => void): void;
  reset?: (cb?: () => void) => number;
  getpeername?: (out: { address?: string; port?: number }) => number;
}

interface Binding {
  state: Int32Array;
  readBytes: number;
  offset: number;
  lastAsync: number;
  WriteWrap: new () => Req;
  ShutdownWrap: new () => Req;
}

let binding: Binding | null | undefined;

/**
 * One of Node's internal bindings (`stream_wrap`, `tcp_wrap`), or undefined: without
 * `process.binding` (a future Node), or with BURROW_NO_CONN set (sockets for every
 * connection, as before), and then connections go through `net.Socket`s.
 */
export function nodeBinding(name: string): Record<string, unknown> | undefined {
  if (process.env.BURROW_NO_CONN) return undefined;
  try {
    return (process as unknown as { binding(name: string): Record<string, unknown> }).binding(name);
  } catch {
    return undefined;
  }
}

function streamBinding(): Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  const { streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync, WriteWrap, ShutdownWrap } = nodeBinding('stream_wrap') ?? {};
  if (streamBaseState instanceof Int32Array && typeof kReadBytesOrError === 'number' && typeof kArrayBufferOffset === 'number' && typeof kLastWriteWasAsync === 'number' && typeof WriteWrap === 'function' && typeof ShutdownWrap === 'function') {
    binding = {
      state: streamBaseState,
      readBytes: kReadBytesOrError,
      offset: kArrayBufferOffset,
      lastAsync: kLastWriteWasAsync,
      WriteWrap: WriteWrap as Binding['WriteWrap'],
      ShutdownWrap: ShutdownWrap as Binding['ShutdownWrap'],
    };
  }
  return binding;
}

/** True when `handle` can be driven as a Conn in this Node. */
export function connSupport(handle: unknown): handle is Handle {
  if (streamBinding() === null) return false;
  const h = handle as Partial<Handle> | null;
  return !!h && typeof h.readStart === 'function' && typeof h.readStop === 'function' && typeof h.writeBuffer === 'function' && typeof h.shutdown === 'function' && typeof h.close === 'function';
}

/**
 * What a Conn tells its user: from its I/O callbacks, and from `start` for what came
 * before it. The user may call `toSocket` from any of them.
 */
export interface ConnUser {
  /** Bytes read. `chunk` is the user's to keep. */
  data(chunk: Buffer): void;
  /** The peer's EOF. */
  end(): void;
  /** Our EOF reached the peer's kernel (after everything written before it). */
  finish(): void;
  /** A read or write failed: the Conn is closed. */
  error(err: Error): void;
}

/**
 * Counters for tests and diagnostics: Conns accepted, Conns dialed (`-R` targets,
 * dial.ts), those handed to a `net.Socket` (and of them, those with writes still
 * queued in the handle), bytes Conns read.
 */
export const connCounters = { accepted: 0, dialed: 0, socketed: 0, socketedQueued: 0, bytesRead: 0 };

/**
 * A libuv error as Node words it: `read ECONNRESET`, or with `at` (a connect)
 * `connect ECONNREFUSED 127.0.0.1:9`, with `code`, `errno`, `syscall` (and `address`, `port`).
 */
export function uvError(code: number, syscall: string, at?: { address: string; port: number }): Error {
  const name = getSystemErrorName(code);
  const where = at ? ` ${at.address}:${at.port}` : '';
  return Object.assign(new Error(`${syscall} ${name}${where}`), { code: name, errno: code, syscall }, at);
}

/** Early reads, kept until `start`: a client that sends before its channel is open. */
const EARLY_LIMIT = 16 * 1024;

export class Conn {
  #handle: Handle;
  readonly #tcp: boolean;
  #user: ConnUser | undefined;
  #early: Buffer[] | undefined;
  #earlyBytes = 0;
  #earlyError: Error | undefined;
  #reading = false;
  /** Bytes handed to the handle and not yet written by it. */
  #queued = 0;
  #readEnded = false;
  #ending = false;
  #finished = false;
  #closed = false;
  #peer: { address?: string; port?: number } | undefined;
  /** Called once the Conn is closed (by `destroy`, or after an error); not when it is handed to a socket. */
  onClose: (() => void) | undefined;

  /**
   * An accepted connection reads at once (what it sends before `start` is kept). A
   * `dialed` one is still connecting: it reads from `start` on, and until then
   * `rehandle` may give it a new handle for the next address.
   */
  constructor(handle: Handle, tcp: boolean, how: 'accepted' | 'dialed' = 'accepted') {
    this.#handle = handle;
    this.#tcp = tcp;
    handle.onread = (ab) => this.#onRead(ab);
    if (how === 'dialed') {
      connCounters.dialed++;
      return;
    }
    connCounters.accepted++;
    this.#startReading();
  }

  /** The handle, for the connect request of a dialed Conn (dial.ts). */
  get handle(): Handle {
    return this.#handle;
  }

  /** A dialed Conn's next attempt: `handle` replaces the one that failed, which is closed. */
  rehandle(handle: Handle): void {
    if (this.#closed || this.#user || this.#reading) throw new Error('only a Conn still connecting takes a new handle');
    const old = this.#handle;
    old.onread = noop;
    old.close();
    this.#handle = handle;
    this.#peer = undefined;
    handle.onread = (ab) => this.#onRead(ab);
  }

  get remoteAddress(): string | undefined {
    return this.#peername().address;
  }

  get remotePort(): number | undefined {
    return this.#peername().port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get writableFinished(): boolean {
    return this.#finished;
  }

  /** Bytes written but still waiting for the kernel. */
  get writableLength(): number {
    return this.#queued;
  }

  #peername(): { address?: string; port?: number } {
    if (this.#peer) return this.#peer;
    const out: { address?: string; port?: number } = {};
    if (this.#tcp && !this.#closed && typeof this.#handle.getpeername === 'function' && this.#handle.getpeername(out) !== 0) return out;
    this.#peer = out;
    return out;
  }

  /**
   * From now on `user` hears of the connection, first what came before; then it reads,
   * unless `read` is false (it waits for `resume()`).
   */
  start(user: ConnUser, read = true): void {
    this.#user = user;
    const early = this.#early;
    // One by one: the user may hand the connection to a socket on any of them (the rest go with it).
    while (early !== undefined && early.length > 0 && this.#user === user) user.data(early.shift() as Buffer);
    if (this.#user !== user) return;
    this.#early = undefined;
    if (this.#earlyError) user.error(this.#earlyError);
    else if (this.#readEnded) user.end(); // read before start
    else if (!read) this.pause();
    else if (!this.#closed && !this.#reading) this.#startReading();
  }

  pause(): void {
    if (!this.#reading || this.#closed) return;
    this.#reading = false;
    this.#handle.reading = false;
    this.#handle.readStop();
  }

  resume(): void {
    if (this.#user && !this.#reading && !this.#readEnded && !this.#closed) this.#startReading();
  }

  #startReading(): void {
    this.#reading = true;
    this.#handle.reading = true;
    const err = this.#handle.readStart();
    if (err) this.#fail(uvError(err, 'read'));
  }

  #onRead(ab: ArrayBuffer | undefined): void {
    const b = binding as Binding;
    const n = b.state[b.readBytes] as number;
    if (n > 0) {
      connCounters.bytesRead += n;
      const chunk = Buffer.from(ab as ArrayBuffer, b.state[b.offset], n);
      const user = this.#user;
      if (user) {
        user.data(chunk);
        return;
      }
      (this.#early ??= []).push(chunk);
      this.#earlyBytes += n;
      if (this.#earlyBytes >= EARLY_LIMIT) this.pause();
      return;
    }
    if (n === 0) return;
    if (n !== UV_EOF) {
      this.#fail(uvError(n, 'read'));
      return;
    }
    this.#readEnded = true;
    this.#reading = false;
    this.#handle.reading = false;
    this.#handle.readStop();
    this.#user?.end(); // else `start` tells it
  }

  /**
   * Writes `data` (which may be a view of reused memory: what the kernel does not take
   * at once is copied). Returns false once bytes wait, as a socket's write does.
   */
  write(data: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    let sent = 0;
    if (this.#queued === 0) {
      sent = sendDirect(this.#handle.fd, data);
      if (sent < 0) sent = 0; // an error: the handle's write reports it
      if (sent === data.length) return true;
    }
    const rest = Buffer.from(sent > 0 ? data.subarray(sent) : data);
    const b = binding as Binding;
    const req = new b.WriteWrap();
    req.handle = this.#handle;
    req.buffer = rest; // alive until written
    req.oncomplete = (status) => {
      this.#queued -= rest.length;
      // ECANCELED: closed by us (or handed over and closed by the socket) before it went.
      if (status < 0 && status !== UV_ECANCELED) this.#fail(uvError(status, 'write'));
    };
    const err = this.#handle.writeBuffer(req, rest);
    if (err) {
      this.#fail(uvError(err, 'write'));
      return false;
    }
    if (b.state[b.lastAsync]) this.#queued += rest.length;
    return this.#queued === 0;
  }

  /** Our EOF, once what was written has gone (the handle keeps the order). */
  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    const b = binding as Binding;
    const req = new b.ShutdownWrap();
    req.handle = this.#handle;
    req.oncomplete = (status) => this.#afterShutdown(status);
    const err = this.#handle.shutdown(req);
    if (err === 1 || err === UV_ENOTCONN) queueMicrotask(() => this.#afterShutdown(0));
    else if (err !== 0) this.#fail(uvError(err, 'shutdown'));
  }

  #afterShutdown(status: number): void {
    if (this.#closed || this.#finished) return;
    if (status < 0 && status !== UV_ENOTCONN) {
      this.#fail(uvError(status, 'shutdown'));
      return;
    }
    this.#finished = true;
    this.#user?.finish();
  }

  /**
   * Closes the connection: with a reset when `reset` and it is a TCP connection that
   * has not sent its EOF (the client must not take what it got for all of it), else
   * with a FIN after what was written.
   */
  destroy(reset = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#user = undefined;
    const h = this.#handle;
    h.onread = noop;
    const done = (): void => this.#emitClose();
    if (reset && this.#tcp && !this.#ending && typeof h.reset === 'function') {
      if (h.reset(done) === 0) return;
    }
    h.close(done);
  }

  #emitClose(): void {
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.();
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    const user = this.#user;
    this.destroy(true);
    if (user) user.error(err);
    else this.#earlyError = err;
  }

  /**
   * Hands the connection to a `net.Socket` in the same state: reading goes on there, an
   * EOF already read is its readable end, an EOF already sent ends its writable side.
   * Bytes the Conn still queues are written before the socket's (one queue). The Conn
   * is done with; `unread` (bytes read, not yet taken) is read first from the socket.
   * The socket's `writableLength` does not count the Conn's queued bytes, which wait in
   * the handle: what writes straight to its descriptor asks `writesPending` first.
   */
  toSocket(opts: { highWaterMark: number }, unread?: Buffer): net.Socket {
    if (this.#closed) throw new Error('connection is closed');
    this.#closed = true;
    this.#user = undefined;
    this.onClose = undefined;
    connCounters.socketed++;
    if (this.#queued > 0) connCounters.socketedQueued++;
    const h = this.#handle;
    if (this.#reading) h.readStop();
    this.#reading = false;
    h.reading = false;
    h.onread = noop;
    const socket = new net.Socket({
      __proto__: null,
      handle: h,
      allowHalfOpen: true,
      // Not reading until the socket is read (a 'data' listener, resume()), so that
      // `unread` and an EOF are in place first: Node's option for sockets it hands on.
      manualStart: true,
      readable: true,
      writable: !this.#ending,
      readableHighWaterMark: opts.highWaterMark,
      writableHighWaterMark: opts.highWaterMark,
    } as net.SocketConstructorOpts);
    // Read before `start` and not yet delivered: after `unread`, in order.
    const early = this.#early;
    this.#early = undefined;
    if (early) for (const chunk of early) socket.push(chunk);
    if (unread) socket.unshift(unread);
    if (this.#readEnded) socket.push(null);
    return socket;
  }
}
