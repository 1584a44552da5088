/**
 * A ProxyJump hop's channel carried over a socketpair, as a forward carries a local
 * socket: the hop's data reaches one end through the sink and the upload pump (native
 * code, no stream event per packet: pipe.ts), and the inner SSH connection runs on the
 * other end as on a TCP socket, with its own receive loop, sealing and pump.
 *
 * Run on the channel itself, the inner connection took each of the hop's packets
 * through the channel's readable side and ssh2's decryption in JavaScript, with no
 * native receive loop or pump (they need a descriptor). At 50 ms through a jump host
 * (bench/HISTORY.md, session 55) burrow's CPU per GiB fell from 2.95 to 1.65 for the
 * first 128 MiB download (OpenSSH's two processes: 1.96), 2.10 to 1.40 in use, 3.5 to
 * 2.4 for an upload, at the same speed. On loopback an upload through the pair read
 * ~270 against ~380 MiB/s in session 55, 291 against 307 in 8 interleaved reps in
 * session 56, with slow outliers on the pair (128, 208; OpenSSH 210–280): not explained.
 * Off with BURROW_NO_HOP_PAIR=1.
 */
import { closeSync } from 'node:fs';
import net from 'node:net';
import { destroyHop, fdTransportSocket, type HopCarrier } from '../ssh/transport.js';
import { socketPair } from '../ssh/sendv.js';
import { SOCKET_HIGH_WATER_MARK, joinStreams } from './pipe.js';

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Hops carried over a socketpair (tests, diagnostics). */
export const hopCounters = { paired: 0 };

/**
 * Joins `channel` to one end of a new socketpair and returns the other as the inner
 * connection's transport; undefined without the addon, when no pair can be made, or
 * with BURROW_NO_HOP_PAIR set.
 *
 * @example
 * const pool = new SessionPool({ resolve, carryHop });
 */
export const carryHop: HopCarrier = (channel, describe) => {
  let fds: [number, number];
  try {
    if (socketPair === undefined || process.env.BURROW_NO_HOP_PAIR) return undefined;
    fds = socketPair();
  } catch {
    return undefined; // out of descriptors: the channel carries it, as before
  }
  const [outerFd, innerFd] = fds;
  let outer: net.Socket | undefined;
  let inner: net.Socket;
  try {
    // allowHalfOpen: the hop's EOF reaches the inner connection as its socket's EOF, and
    // the inner side's end goes to the hop as an EOF, each on its own (an SSH transport
    // that ends is done; joinStreams then settles and closes the channel).
    outer = new net.Socket({ fd: outerFd, readable: true, writable: true, allowHalfOpen: true, highWaterMark: SOCKET_HIGH_WATER_MARK } as net.SocketConstructorOpts);
    inner = fdTransportSocket(innerFd);
  } catch {
    // Node could not open a descriptor as a socket: none of them is used.
    if (outer) outer.destroy();
    else closeQuietly(outerFd);
    closeQuietly(innerFd);
    return undefined;
  }
  inner.on('error', () => {}); // ssh2's own handler reports what matters
  const join = joinStreams(outer, channel);
  hopCounters.paired++;
  return {
    stream: inner,
    describe,
    dispose() {
      inner.destroy();
      join.destroy();
      destroyHop(channel);
    },
  };
};
