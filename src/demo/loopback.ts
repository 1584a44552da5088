/**
 * The demo server must never become an open proxy: it connects only to loopback
 * addresses, and even a name that resolves elsewhere is refused at connect time.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';

/**
 * True for 127.0.0.0/8, ::1 (also written out in full or IPv4-mapped) and `localhost`.
 * Other names are not resolved: they are simply not loopback.
 *
 * @example
 * isLoopbackHost('127.0.0.53'); // true
 * isLoopbackHost('10.0.0.1');   // false
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = isIP(h);
  if (family === 4) return h.startsWith('127.');
  if (family === 6) {
    const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (mapped?.[1] !== undefined) return mapped[1].startsWith('127.');
    return expandV6(h) === '0000:0000:0000:0000:0000:0000:0000:0001';
  }
  return false;
}

function expandV6(h: string): string {
  const [head = '', tail] = h.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => g.padStart(4, '0')).join(':');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect` that drops every non-loopback answer, so `localhost`
 * mapped elsewhere in /etc/hosts cannot widen what the server reaches.
 */
export function loopbackOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const ok = addresses.filter((a) => isLoopbackHost(a.address));
    if (ok.length === 0) {
      const e: NodeJS.ErrnoException = new Error(`${hostname} does not resolve to a loopback address`);
      e.code = 'ENOTFOUND';
      return callback(e, []);
    }
    if (options.all) return callback(null, ok);
    const first = ok[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}
