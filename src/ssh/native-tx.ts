/**
 * A channel's outgoing data sealed in native code (native/tx-seal.c): an upload through
 * `-L`/`-D`, a download through `-R`, on an AES-GCM connection.
 *
 * ssh2 makes each CHANNEL_DATA packet in JavaScript (frame, copy, one call to encrypt,
 * one corked write), then writes a turn's packets with Node's writev. When ssh2's
 * Channel writes what the peer's window allows (the patch's `[native tx]`), this sends
 * the same packets in one call instead: framed, padded and encrypted from the IV ssh2
 * would use next, then written to the socket's descriptor with one send(2) when Node has
 * nothing queued on it (bulk writes), or handed to Node's socket (after what is queued
 * there, in order). ssh2's cipher then goes on after them (`sealed`).
 *
 * Not during a key exchange (ssh2 queues packets then: sending nothing, this leaves them
 * to it), nor with compression, nor with another cipher: the packets then go one by one,
 * as before. Off with BURROW_NO_NATIVE_TX=1, and without the addon (no compiler at
 * install).
 *
 * A channel's window adjusts are sealed here too (`message`), and sent the same way:
 * a download makes thousands a second, and ssh2's packet, encryption call and corked
 * write were most of the JavaScript it ran.
 *
 * Once a connection carries bulk data towards the server, its local socket is mostly
 * read by native code instead (native-pump.ts): what comes here is each upload's first
 * bulk read, what follows a key exchange until the pump starts again, and small writes.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { socketFd } from './native-rx.js';

/** The addon: `seal` here, the `pump*` functions for native-pump.ts (native/tx-pump.c). */
export interface TxAddon {
  seal(fd: number, cipher: string, key: Buffer, iv: Buffer, packetsDone: number, recipient: number, data: Uint8Array, packetSize: number): Buffer | undefined;
  message(fd: number, cipher: string, key: Buffer, iv: Buffer, packetsDone: number, payload: Uint8Array): Buffer | undefined;
  pumpStart(
    localFd: number,
    sshFd: number,
    cipher: string,
    key: Buffer,
    iv: Buffer,
    recipient: number,
    packetSize: number,
    window: number,
    onRead: (n: number, window: number) => number,
    onQueue: (rest: Buffer) => void,
    onStop: (err: number, data: Buffer | undefined, window: number) => void,
  ): object;
  pumpKey(h: object, cipher: string, key: Buffer, iv: Buffer): void;
  pumpCredit(h: object, n: number): void;
  pumpResume(h: object): void;
  pumpStop(h: object): void;
  pumpApi(): object;
}

/** ssh2's AES-GCM cipher as patched (`[native tx]`). */
export interface GcmCipher {
  _dead: boolean;
  _sslName: string;
  _key: Buffer;
  _iv: Buffer;
  packetsDone(): number;
  sealed(n: number): void;
}

export interface Protocol {
  _cipher?: Partial<GcmCipher>;
  _kexinit?: unknown;
  _packetRW: { write: { allocStart: number } };
  _onWrite(data: Buffer): void;
}

/** What this module needs of an ssh2 Channel. */
export interface TxChannel {
  _client: { _sock?: Duplex; _protocol?: Protocol };
  outgoing: { id: number; packetSize: number };
}

const require = createRequire(import.meta.url);

export const txAddon: TxAddon | undefined = (() => {
  if (process.env.BURROW_NO_NATIVE_TX) return undefined;
  try {
    return require('../../native/build/Release/tx_seal.node') as TxAddon;
  } catch {
    return undefined;
  }
})();

/** The addon loaded, and BURROW_NO_NATIVE_TX is not set (`burrow --version -v`). */
export const nativeTxAvailable = txAddon !== undefined;

/**
 * Writes sealed here, their bytes of data, and those sent whole to the descriptor;
 * window adjusts sealed here, and those sent to the descriptor (tests, diagnostics).
 */
export const nativeTxCounters = { writes: 0, bytes: 0, direct: 0, adjusts: 0, adjustsDirect: 0 };

/** ssh2's packet writer without compression leaves 5 bytes for the length and padding length. */
const PLAIN_ALLOC_START = 5;

/**
 * Smaller writes are queued on Node's socket even when it is empty: ssh2 corks a turn's
 * packets into one writev(2), where each of these would be a send(2) of its own (many
 * channels answering at once, interactive traffic).
 */
const MIN_DIRECT = 16 * 1024;

/**
 * The connection's cipher when its channel data may be sealed here now: AES-GCM as
 * patched, no key exchange under way (ssh2 queues packets then), no compression.
 */
export function sealingCipher(proto: Protocol | undefined): GcmCipher | undefined {
  if (proto === undefined || proto._kexinit !== undefined || proto._packetRW.write.allocStart !== PLAIN_ALLOC_START) return undefined;
  const cipher = proto._cipher;
  return typeof cipher?.sealed === 'function' && !cipher._dead ? (cipher as GcmCipher) : undefined;
}

/**
 * The SSH socket's descriptor when a write may go straight to it: nothing of this
 * connection waits in Node (corked packets of this turn included), or the bytes would
 * overtake it. Else -1: the sealed packets are handed back to be queued there.
 */
function directFd(sock: Duplex | undefined): number {
  return sock !== undefined && sock.writableLength === 0 && sock.writable ? socketFd(sock as Socket) : -1;
}

/**
 * Seals with the connection's cipher (`seal` or `message` of the addon, which uses
 * `packets` packets) and hands what the socket did not take to ssh2's writer. Undefined
 * when nothing was sent (ssh2 makes the packets itself), else whether the socket took
 * them all.
 */
function sendSealed(channel: TxChannel, c: GcmCipher, packets: number, make: (done: number) => Buffer | undefined): boolean | undefined {
  let rest: Buffer | undefined;
  try {
    rest = make(c.packetsDone());
  } catch (err) {
    // Nothing was sent, unless part of it left and the rest could not be kept: then the
    // stream is cut, and so is the connection.
    if ((err as { code?: unknown }).code !== 'ERR_TX_SEAL_PARTIAL') return undefined;
    channel._client._sock?.destroy(err as Error);
    return false;
  }
  c.sealed(packets);
  if (rest === undefined) return true;
  channel._client._protocol!._onWrite(rest);
  return false;
}

function send(channel: TxChannel, data: Uint8Array, n: number): boolean {
  // A Writable decodes strings to Buffers before `_write`; anything else is left to ssh2.
  if (!(data instanceof Uint8Array)) return false;
  const c = sealingCipher(channel._client._protocol);
  if (c === undefined) return false;
  const fd = n >= MIN_DIRECT ? directFd(channel._client._sock) : -1;
  const { id, packetSize } = channel.outgoing;
  const body = n === data.length ? data : data.subarray(0, n);
  const direct = sendSealed(channel, c, Math.ceil(n / packetSize), (done) => txAddon!.seal(fd, c._sslName, c._key, c._iv, done, id, body, packetSize));
  if (direct === undefined) return false;
  nativeTxCounters.writes++;
  nativeTxCounters.bytes += n;
  if (direct) nativeTxCounters.direct++;
  return true;
}

/** CHANNEL_WINDOW_ADJUST's payload: type, recipient, bytes to add. */
const ADJUST = Buffer.alloc(9);
const CHANNEL_WINDOW_ADJUST = 93;

/**
 * A channel's window adjust, sealed here: a download's thousands a second skip ssh2's
 * packet, its call to encrypt and Node's corked write.
 */
function sendAdjust(channel: TxChannel, amount: number): boolean {
  const c = sealingCipher(channel._client._protocol);
  if (c === undefined) return false;
  const fd = directFd(channel._client._sock);
  ADJUST[0] = CHANNEL_WINDOW_ADJUST;
  ADJUST.writeUInt32BE(channel.outgoing.id, 1);
  ADJUST.writeUInt32BE(amount, 5);
  const direct = sendSealed(channel, c, 1, (done) => txAddon!.message(fd, c._sslName, c._key, c._iv, done, ADJUST));
  if (direct === undefined) return false;
  nativeTxCounters.adjusts++;
  if (direct) nativeTxCounters.adjustsDirect++;
  return true;
}

let installed = false;

/** Has ssh2's channels send their data through the addon, where it loaded. Once per process. */
export function installNativeTx(): boolean {
  if (txAddon === undefined) return false;
  if (!installed) {
    // An ssh2 without the patch has no hook: its channels make their packets as ever.
    const { setBulkSender, setAdjustSender } = require('ssh2/lib/Channel.js') as {
      setBulkSender?: (fn: typeof send) => void;
      setAdjustSender?: (fn: typeof sendAdjust) => void;
    };
    if (typeof setBulkSender !== 'function' || typeof setAdjustSender !== 'function') return false;
    setBulkSender(send);
    setAdjustSender(sendAdjust);
    installed = true;
  }
  return true;
}
