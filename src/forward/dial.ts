/**
 * A `-R` target's connection as a {@link Conn}: Node's TCP handle and its connect
 * request driven directly, in the order `net.connect` takes (a name looked up with
 * `dns.lookup`, all its addresses, the families alternating from the first, each
 * attempt but the last given 250 ms), and no `net.Socket` until the connection moves
 * more than a request and its reply (conn-join.ts). A socket from `net.connect` and
 * its `connect` event were ~5 % of what a `-R` connection costs burrow
 * (bench/HISTORY.md, sessions 51 and 53).
 *
 * Like conn.ts, this uses `process.binding('tcp_wrap')`; where it is missing (or with
 * BURROW_NO_CONN set), `dialSupport()` is false and `-R` connects with `net.connect`.
 */
import dns from 'node:dns';
import net from 'node:net';
import { Conn, connSupport, nodeBinding, uvError, type Handle } from './conn.js';

/** What `net.connect` gives each address but the last (Node 20's `autoSelectFamilyAttemptTimeout`). */
const ATTEMPT_MS = 250;
const UV_ETIMEDOUT = -110;
const UV_ECANCELED = -125;

interface ConnectReq {
  address?: string;
  port?: number;
  oncomplete: (status: number) => void;
}

interface TcpHandle extends Handle {
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  setNoDelay(on: boolean): number;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  socket: number;
}

let binding: TcpBinding | null | undefined;

function tcpBinding(): TcpBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  const { TCP, TCPConnectWrap, constants } = (nodeBinding('tcp_wrap') ?? {}) as { TCP?: unknown; TCPConnectWrap?: unknown; constants?: { SOCKET?: unknown } };
  if (typeof TCP === 'function' && typeof TCPConnectWrap === 'function' && typeof constants?.SOCKET === 'number') {
    const candidate = { TCP: TCP as TcpBinding['TCP'], TCPConnectWrap: TCPConnectWrap as TcpBinding['TCPConnectWrap'], socket: constants.SOCKET };
    const probe = new candidate.TCP(candidate.socket);
    const ok = connSupport(probe) && typeof probe.connect === 'function' && typeof probe.connect6 === 'function';
    probe.close();
    if (ok) binding = candidate;
  }
  return binding;
}

/** True when `dial` can connect in this Node. */
export function dialSupport(): boolean {
  return tcpBinding() !== null;
}

/** `net.connect`'s order: the families alternate, starting with the first address's. */
function alternate(addresses: dns.LookupAddress[]): dns.LookupAddress[] {
  const first = addresses[0]?.family;
  const seen = new Set<string>();
  const same: dns.LookupAddress[] = [];
  const other: dns.LookupAddress[] = [];
  for (const a of addresses) {
    if ((a.family !== 4 && a.family !== 6) || seen.has(a.address)) continue;
    seen.add(a.address);
    (a.family === first ? same : other).push(a);
  }
  const out: dns.LookupAddress[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    const a = same[i];
    const b = other[i];
    if (a) out.push(a);
    if (b) out.push(b);
  }
  return out;
}

/** Why a dial stopped when its Conn was destroyed while it connected. */
function givenUp(host: string, port: number): Error {
  return Object.assign(new Error(`connect to ${host}:${port} given up`), { code: 'ECANCELED' });
}

/** `dns.lookup` with `all: true`, or a stand-in for tests. */
export type LookupAll = (host: string, opts: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * Connects to `host`:`port`. Returns the Conn at once, still connecting (destroy it to
 * give up). `done` follows exactly once, never before `dial` returns: without an error
 * once connected, else with the last attempt's (as `net.connect` reports one), the Conn
 * then closed; destroyed while connecting, with an `ECANCELED` error.
 */
export function dial(host: string, port: number, done: (err?: Error) => void, lookup: LookupAll = dns.lookup): Conn {
  const b = tcpBinding();
  if (!b) throw new Error('dial: no TCP binding in this Node (check dialSupport())');
  const conn = new Conn(new b.TCP(b.socket), true, 'dialed');
  let settled = false;
  const settle = (err?: Error): void => {
    if (settled) return;
    settled = true;
    if (err) conn.destroy();
    done(err);
  };
  const attempt = (list: dns.LookupAddress[], i: number): void => {
    const { address, family } = list[i] as dns.LookupAddress;
    const last = i === list.length - 1;
    if (i > 0) conn.rehandle(new b.TCP(b.socket));
    const handle = conn.handle as TcpHandle;
    let timer: NodeJS.Timeout | undefined;
    let over = false;
    const next = (err: Error): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      if (conn.closed) settle(givenUp(host, port));
      else if (last) settle(err);
      else attempt(list, i + 1);
    };
    const req = new b.TCPConnectWrap();
    req.address = address;
    req.port = port;
    req.oncomplete = (status) => {
      // Its time ran out (the handle was closed for the next address), or it failed.
      if (status < 0 || conn.closed) {
        next(uvError(status < 0 ? status : UV_ECANCELED, 'connect', { address, port }));
        return;
      }
      if (over) return;
      over = true;
      clearTimeout(timer);
      handle.setNoDelay(true);
      settle();
    };
    if (!last) timer = setTimeout(() => next(uvError(UV_ETIMEDOUT, 'connect', { address, port })), ATTEMPT_MS);
    const err = family === 6 ? handle.connect6(req, address, port) : handle.connect(req, address, port);
    if (err) queueMicrotask(() => next(uvError(err, 'connect', { address, port })));
  };
  const family = net.isIP(host);
  if (family) {
    attempt([{ address: host, family }], 0);
    return conn;
  }
  lookup(host, { all: true, hints: dns.ADDRCONFIG }, (err, addresses) => {
    if (conn.closed) settle(givenUp(host, port));
    else if (err) settle(err);
    else {
      const list = alternate(addresses);
      if (list.length === 0) settle(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }));
      else attempt(list, 0);
    }
  });
  return conn;
}
