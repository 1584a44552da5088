/**
 * A local socket's bytes sent up a channel by native code (native/tx-pump.c): an
 * upload through `-L`/`-D`, a download through `-R`, on an AES-GCM connection.
 *
 * With native-tx.ts each read of the local socket still runs Node's read callback, the
 * join's write, the Channel's Writable and `_write`, and each window adjust of the
 * server the Channel's resumed write: a few hundred small events a second over a long
 * link, which keep V8's code in its baseline tier. Once a connection moves bulk data
 * towards the server, the pump reads the socket instead (Node's reads are held), and
 * per read calls `onRead` here once: the bytes are counted, taken off the Channel's
 * window, and ssh2's cipher moves on past the packets the pump then seals and sends.
 * The server's window adjusts reach it from the receive loop (native-rx.ts), which
 * runs during such an upload and credits the pump in C; when the loop is not running,
 * through ssh2's handler (wrapped once per connection). The pump's count of the window
 * is then the Channel's (`onRead` and `onStop` say it).
 *
 * It hands the socket back to Node, which reads on, at the socket's EOF (Node then
 * reads it too and ends the channel as ever) and when a key exchange begins (the bytes
 * it read go to the Channel, which queues them with ssh2's); a read error resets the
 * local socket as Node's would. The join (forward/pipe.ts) starts it again on a later
 * bulk read, and stops it when it settles. Off with BURROW_NO_NATIVE_TX=1 or
 * BURROW_NO_PUMP=1.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { holdReads } from './hold-reads.js';
import { nativePumpAttach, nativePumpDetach, socketFd } from './native-rx.js';
import { sealingCipher, txAddon, type GcmCipher, type Protocol, type TxChannel } from './native-tx.js';

const addon = process.env.BURROW_NO_PUMP ? undefined : txAddon;

/** The addon loaded, and neither BURROW_NO_NATIVE_TX nor BURROW_NO_PUMP is set (`burrow --version -v`). */
export const pumpAvailable = addon !== undefined;

/** What the receive loop calls to credit a pump (native/tx-pump-api.h). */
const loopApi = addon?.pumpApi();

/**
 * Pumps started; reads they sent, and bytes; reads of which some went to Node's socket
 * to wait (the SSH socket was full, or Node held bytes for it); hand-backs with bytes
 * read (a key exchange began). Tests, diagnostics.
 */
export const pumpCounters = { started: 0, reads: 0, bytes: 0, queued: 0, declined: 0 };

/** An ssh2 Channel, as the pump reads and moves it. */
interface PumpChannel extends TxChannel {
  /** Our number for the channel: the one the server's messages for it name. */
  incoming: { id: number };
  outgoing: { id: number; packetSize: number; window: number; state: string };
  _waitWindow?: boolean;
  writableLength: number;
  writable: boolean;
  destroyed: boolean;
  write(data: Buffer): boolean;
}

interface Handlers {
  CHANNEL_WINDOW_ADJUST: (p: unknown, recipient: number, amount: number) => void;
}

/** The pump of each channel that has one: window adjusts go to it. */
const pumps = new WeakMap<object, Pump>();
const hooked = new WeakSet<object>();

/** The server's window adjusts, after ssh2 has counted them, credited to the channel's pump. */
function hookWindow(client: object, proto: Protocol): void {
  if (hooked.has(client)) return;
  hooked.add(client);
  const h = (proto as unknown as { _handlers: Handlers })._handlers;
  const table = (client as { _chanMgr: { _channels: Record<number, unknown> } })._chanMgr._channels;
  const adjust = h.CHANNEL_WINDOW_ADJUST;
  h.CHANNEL_WINDOW_ADJUST = (p, recipient, amount) => {
    adjust(p, recipient, amount);
    const ch = table[recipient];
    if (typeof ch === 'object' && ch !== null) pumps.get(ch)?.credit(amount);
  };
}

class Pump {
  #handle: object | undefined;
  #cipher: GcmCipher;
  #iv: Buffer;

  constructor(
    readonly local: Socket,
    readonly channel: PumpChannel,
    readonly sock: Socket,
    cipher: GcmCipher,
    readonly onChunk: (n: number) => void,
    readonly onHandBack: () => void,
  ) {
    this.#cipher = cipher;
    this.#iv = cipher._iv;
  }

  /** False when the addon could not start (no descriptor left, say): Node reads on. */
  start(localFd: number, sshFd: number): boolean {
    const { id, packetSize, window } = this.channel.outgoing;
    const c = this.#cipher;
    try {
      this.#handle = addon!.pumpStart(localFd, sshFd, c._sslName, c._key, c._iv, id, packetSize, window,
        (n, w) => this.#onRead(n, w),
        (rest) => this.#onQueue(rest),
        (err, data, w) => this.#onStop(err, data, w));
    } catch {
      return false;
    }
    holdReads(this.local, true);
    pumps.set(this.channel, this);
    // While the receive loop runs, the server's window adjusts reach the pump there.
    nativePumpAttach(this.channel._client, this.channel.incoming.id, this.#handle, loopApi!);
    pumpCounters.started++;
    return true;
  }

  credit(n: number): void {
    if (this.#handle !== undefined) addon!.pumpCredit(this.#handle, n);
  }

  /** Stops for good (the join settled): Node does not read the socket again. */
  stop(): void {
    if (this.#handle === undefined) return;
    addon!.pumpStop(this.#handle);
    this.#release();
    holdReads(this.local, false, false);
  }

  /**
   * `n` bytes read, `window` left after them (the pump's count, which the receive loop
   * credits): -1 to hand back, else ssh2's packets done so far, doubled, +1 to send now.
   */
  #onRead(n: number, window: number): number {
    const ch = this.channel;
    const c = sealingCipher(ch._client._protocol);
    if (c === undefined || ch.outgoing.state !== 'open' || !this.sock.writable) return -1;
    // A new key (a key exchange), or ssh2 moved its IV on past packets sealed natively
    // before making one of its own: packetsDone counts from that IV.
    if (c !== this.#cipher || c._iv !== this.#iv) {
      try {
        addon!.pumpKey(this.#handle!, c._sslName, c._key, c._iv);
      } catch {
        return -1;
      }
      this.#cipher = c;
      this.#iv = c._iv;
    }
    const done = c.packetsDone();
    c.sealed(Math.ceil(n / ch.outgoing.packetSize));
    ch.outgoing.window = window;
    pumpCounters.reads++;
    pumpCounters.bytes += n;
    this.onChunk(n);
    return done * 2 + (this.sock.writableLength === 0 ? 1 : 0);
  }

  /** Sealed bytes the SSH socket did not take: after what Node holds for it. */
  #onQueue(rest: Buffer): void {
    if (!this.sock.writable) return; // the connection is going: so are its channels
    pumpCounters.queued++;
    this.sock.write(rest, () => {
      if (this.#handle !== undefined) addon!.pumpResume(this.#handle);
    });
  }

  #onStop(err: number, data: Buffer | undefined, window: number): void {
    this.#release();
    this.channel.outgoing.window = window;
    if (err < 0) {
      // Bytes counted as sent could not be: the connection cannot go on.
      this.sock.destroy(Object.assign(new Error('native send failed: out of memory'), { code: 'ERR_TX_PUMP_LOST' }));
      return;
    }
    const ch = this.channel;
    if (data !== undefined) {
      pumpCounters.declined++;
      if (ch.outgoing.state === 'open' && ch.writable) ch.write(data);
    }
    if (err > 0) {
      const code = getSystemErrorName(-err);
      holdReads(this.local, false, false);
      this.local.destroy(Object.assign(new Error(`read ${code}`), { code, errno: -err, syscall: 'read' }));
      return;
    }
    holdReads(this.local, false);
    this.onHandBack();
  }

  #release(): void {
    if (this.#handle !== undefined) nativePumpDetach(this.channel._client, this.channel.incoming.id, this.#handle);
    this.#handle = undefined;
    pumps.delete(this.channel);
  }
}

/** What the join keeps of a running pump. */
export interface RunningPump {
  stop(): void;
}

/**
 * Starts a pump from `local` into `channel` where it can run now: the addon loaded, an
 * AES-GCM connection on a socket of this process outside a key exchange, an open
 * channel with nothing queued, a socket with nothing buffered. `onChunk` counts the
 * bytes sent; `onHandBack` runs when Node reads the socket again.
 */
export function startPump(local: Socket, channel: Duplex, onChunk: (n: number) => void, onHandBack: () => void): RunningPump | undefined {
  if (addon === undefined) return undefined;
  const ch = channel as unknown as Partial<PumpChannel>;
  const client = ch._client;
  const sock = client?._sock as Socket | undefined;
  const c = sealingCipher(client?._protocol);
  if (c === undefined || sock === undefined || ch.outgoing?.state !== 'open' || ch._waitWindow || ch.writableLength !== 0 || !ch.writable) return undefined;
  if (local.destroyed || local.readableLength !== 0 || local.readableEnded || !sock.writable) return undefined;
  const localFd = socketFd(local);
  const sshFd = socketFd(sock);
  if (localFd < 0 || sshFd < 0) return undefined;
  hookWindow(client!, client!._protocol!);
  const pump = new Pump(local, ch as PumpChannel, sock, c, onChunk, onHandBack);
  return pump.start(localFd, sshFd) ? pump : undefined;
}
