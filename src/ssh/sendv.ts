/**
 * One sendmsg(2) for several buffers, straight to a socket's descriptor (native/sendv.c):
 * non-blocking, no SIGPIPE. Used where the caller has made sure Node holds nothing for
 * that socket, and hands Node's write whatever the kernel did not take: channel data to
 * a local socket (forward/sink.ts, forward/conn.ts), and the SSH connection's lone
 * packets (transport.ts).
 */
import { createRequire } from 'node:module';

/** The bytes sent (possibly fewer than given), or -errno when nothing was sent. */
export type Sendv = (fd: number, bufs: Uint8Array[]) => number;

interface Addon {
  sendv: Sendv;
  socketpair?: () => [number, number];
}

const addon: Addon | undefined = (() => {
  try {
    return createRequire(import.meta.url)('../../native/build/Release/sendv.node') as Addon;
  } catch {
    return undefined;
  }
})();

/** Undefined without the addon (no compiler at install). */
export const sendv: Sendv | undefined = addon?.sendv;

/**
 * Two connected unix stream sockets' descriptors (socketpair(2), close-on-exec); throws
 * when none can be made. Undefined without the addon.
 */
export const socketPair: (() => [number, number]) | undefined = addon?.socketpair;

const one: Uint8Array[] = [];
const EMPTY = new Uint8Array(0);

/**
 * Sends `data` to descriptor `fd` now: the bytes the kernel took, or -1 (no addon, no
 * descriptor, an error: the caller's socket write takes it all and reports the error).
 */
export function sendOne(fd: number, data: Uint8Array): number {
  if (sendv === undefined || fd < 0) return -1;
  one[0] = data;
  const sent = sendv(fd, one);
  one[0] = EMPTY;
  return sent < 0 ? -1 : sent;
}
