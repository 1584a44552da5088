/**
 * Small operations on ssh2 channels and connections that ssh2 does not offer as such:
 * opening a channel as a promise with a typed error, a keepalive probe, an immediate
 * ACK after a channel opens, and an error guard.
 */
import type { ClientChannel } from 'ssh2';
import type ssh2 from 'ssh2';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors.js';

type Client = InstanceType<typeof ssh2.Client>;

/**
 * Sends keepalive@openssh.com, which the server must answer. ssh2 has no public call
 * for it; this does what its own keepalive timer does (a reply callback, then ping).
 */
export function probe(client: Client): void {
  const c = client as unknown as { _callbacks?: Array<() => void>; _protocol?: { ping(): void } };
  if (!c._callbacks || !c._protocol) return;
  c._callbacks.push(() => {});
  try {
    c._protocol.ping();
  } catch {
    // the transport is already gone; 'close' follows
  }
}

export function guard<T extends { on(ev: 'error', fn: (e: Error) => void): unknown }>(ch: T): T {
  ch.on('error', () => {});
  return ch;
}

/**
 * Answers a channel-open confirmation with a packet at once (a WINDOW_ADJUST of 0
 * bytes, a no-op for the server), so that the TCP ACK for the confirmation leaves now
 * instead of after the kernel's delayed-ACK timer (~40 ms). sshd does not set
 * TCP_NODELAY on a `-N` session: when the target speaks first, its first bytes queue
 * behind the unacknowledged confirmation (Nagle) until our ACK arrives.
 */
function ackNow(ch: ClientChannel): void {
  type Proto = { channelWindowAdjust(id: number, n: number): void; _cipher?: { outSeqno?: number } };
  const c = ch as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: Proto } };
  const proto = c._client?._protocol;
  const id = c.outgoing?.id;
  if (!proto || id === undefined) return;
  const sent = proto._cipher?.outSeqno;
  // Wait one turn of the event loop (two check phases: the local socket is read in
  // the poll phase between them): when the client spoke first, its data already
  // carried the ACK and nothing extra is sent.
  setImmediate(() =>
    setImmediate(() => {
      if (c.outgoing?.state !== 'open' || proto._cipher?.outSeqno !== sent) return;
      try {
        proto.channelWindowAdjust(id, 0);
      } catch {
        // the transport is already gone; the channel closes with it
      }
    }),
  );
}

export function channelOpen(
  signal: AbortSignal | undefined,
  what: string,
  destination: string,
  open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new BurrowError('ABORTED', `opening ${what} aborted`, { phase: 'channel', cause: signal.reason }));
    let done = false;
    const onAbort = () => {
      done = true;
      reject(new BurrowError('ABORTED', `opening ${what} aborted`, { phase: 'channel', cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      open((err, ch) => {
        signal?.removeEventListener('abort', onAbort);
        if (done) {
          ch?.destroy();
          return;
        }
        if (err) {
          const reason = (err as Error & { reason?: number }).reason;
          const why = reason === 2 ? 'connection refused or unreachable from there' : reason === 1 ? 'administratively prohibited' : err.message;
          return reject(new BurrowError('CHANNEL_OPEN_FAILED', `${destination} could not open ${what}: ${why}`, { phase: 'channel', cause: err, details: { reason } }));
        }
        ackNow(ch);
        resolve(guard(ch));
      });
    } catch (e) {
      reject(new BurrowError('SESSION_CLOSED', `the connection to ${destination} is closed`, { phase: 'channel', cause: e }));
    }
  });
}
