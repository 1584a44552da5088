/**
 * A channel's outgoing data sealed in native code (native/tx-seal.c): an upload through
 * `-L`/`-D`, a download through `-R`, on an AES-GCM connection.
 *
 * ssh2 makes each CHANNEL_DATA packet in JavaScript (frame, copy, one call to encrypt,
 * one corked write), then writes a tick's packets with Node's writev. When ssh2's
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
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { socketFd } from './native-rx.js';

interface Addon {
  seal(fd: number, cipher: string, key: Buffer, iv: Buffer, packetsDone: number, recipient: number, data: Uint8Array, packetSize: number): Buffer | undefined;
}

/** ssh2's AES-GCM cipher as patched (`[native tx]`). */
interface GcmCipher {
  _dead: boolean;
  _sslName: string;
  _key: Buffer;
  _iv: Buffer;
  packetsDone(): number;
  sealed(n: number): void;
}

interface Protocol {
  _cipher?: Partial<GcmCipher>;
  _kexinit?: unknown;
  _packetRW: { write: { allocStart: number } };
  _onWrite(data: Buffer): void;
}

/** What this module needs of an ssh2 Channel. */
interface TxChannel {
  _client: { _sock?: Duplex; _protocol?: Protocol };
  outgoing: { id: number; packetSize: number };
}

const require = createRequire(import.meta.url);

const addon: Addon | undefined = (() => {
  if (process.env.BURROW_NO_NATIVE_TX) return undefined;
  try {
    return require('../../native/build/Release/tx_seal.node') as Addon;
  } catch {
    return undefined;
  }
})();

/** The addon loaded, and BURROW_NO_NATIVE_TX is not set (`burrow --version -v`). */
export const nativeTxAvailable = addon !== undefined;

/** Writes sealed here, their bytes of data, and those sent whole to the descriptor (tests, diagnostics). */
export const nativeTxCounters = { writes: 0, bytes: 0, direct: 0 };

/** ssh2's packet writer without compression leaves 5 bytes for the length and padding length. */
const PLAIN_ALLOC_START = 5;

/**
 * Smaller writes are queued on Node's socket even when it is empty: ssh2 corks a tick's
 * packets into one writev(2), where each of these would be a send(2) of its own (many
 * channels answering at once, interactive traffic).
 */
const MIN_DIRECT = 16 * 1024;

function send(channel: TxChannel, data: Uint8Array, n: number): boolean {
  // A Writable decodes strings to Buffers before `_write`; anything else is left to ssh2.
  if (!(data instanceof Uint8Array)) return false;
  const proto = channel._client._protocol;
  if (proto === undefined || proto._kexinit !== undefined || proto._packetRW.write.allocStart !== PLAIN_ALLOC_START) return false;
  const cipher = proto._cipher;
  if (typeof cipher?.sealed !== 'function' || cipher._dead) return false;
  const c = cipher as GcmCipher;
  const sock = channel._client._sock;
  // Straight to the descriptor only when nothing of this connection waits in Node
  // (corked packets of this tick included), or the bytes would overtake it.
  const fd = n >= MIN_DIRECT && sock !== undefined && sock.writableLength === 0 && sock.writable ? socketFd(sock as Socket) : -1;
  const { id, packetSize } = channel.outgoing;
  let rest: Buffer | undefined;
  try {
    rest = addon!.seal(fd, c._sslName, c._key, c._iv, c.packetsDone(), id, n === data.length ? data : data.subarray(0, n), packetSize);
  } catch (err) {
    // Nothing was sent (ssh2 makes the packets itself), unless part of them left and the
    // rest could not be kept: then the stream is cut, and so is the connection.
    if ((err as { code?: unknown }).code !== 'ERR_TX_SEAL_PARTIAL') return false;
    sock?.destroy(err as Error);
    return true;
  }
  c.sealed(Math.ceil(n / packetSize));
  nativeTxCounters.writes++;
  nativeTxCounters.bytes += n;
  if (rest === undefined) nativeTxCounters.direct++;
  else proto._onWrite(rest);
  return true;
}

let installed = false;

/** Has ssh2's channels send their data through the addon, where it loaded. Once per process. */
export function installNativeTx(): boolean {
  if (addon === undefined) return false;
  if (!installed) {
    // An ssh2 without the patch has no hook: its channels make their packets as ever.
    const { setBulkSender } = require('ssh2/lib/Channel.js') as { setBulkSender?: (fn: typeof send) => void };
    if (typeof setBulkSender !== 'function') return false;
    setBulkSender(send);
    installed = true;
  }
  return true;
}
