/**
 * Reads of a local socket into memory that is reused, once its connection carries bulk
 * data towards the SSH server (an upload through `-L`/`-D`, a download through `-R`).
 *
 * Node reads a socket into a fresh 64 KiB buffer per read(2), garbage that V8 frees
 * only at its next collection, tens of MB later. Until then every read lands on new
 * memory: a page fault and a page clear per 4 KiB, on the VMs measured the largest cost
 * of a process's first upload (bench/HISTORY.md). Yet the bytes of a read are copied into
 * SSH packets as soon as the channel has window: the memory is free again almost at
 * once. Here a connection reads up to 256 KiB per read(2) into buffers of its own, two
 * taking turns while the channel keeps up, one more each time it holds a read back.
 *
 * Node offers this (`onread`) only to sockets it connects. An accepted socket is switched
 * over by setting the same internal fields `onread` sets (found by their symbols'
 * descriptions: `kBuffer`, `kBufferGen`, `kBufferCb`) and pointing the handle at the
 * first buffer (`useUserBuffer`), as `net.Socket`'s constructor does. Only between
 * reads, with nothing buffered in the stream; where the fields are missing (another
 * Node), nothing changes.
 *
 * A switched socket keeps its buffers (the next read's, one waiting to be sent, a few
 * free) until it closes, ~0.5–1.5 MiB: at most `MAX_SWITCHED` sockets are switched at
 * once, so that a thousand connections uploading at once don't hold a gigabyte. The
 * others read as Node does, one 64 KiB buffer per read, freed by the GC.
 */
import { Socket } from 'node:net';

/** Bytes per read(2) once switched. */
export const SLOT_BYTES = 256 * 1024;
/** A read this large (Node's whole read buffer) says more was waiting: bulk data. */
export const BULK_READ = 64 * 1024;
/** Free buffers kept per connection; more are dropped to the GC. */
const KEEP = 4;
/** Sockets reading into buffers of their own at once. */
export const MAX_SWITCHED = 64;
let switched = 0;

interface Fields {
  buffer: symbol;
  gen: symbol;
  cb: symbol;
}

let fields: Fields | null | undefined;

/** The symbols behind `onread` in this Node, or null. */
function onreadFields(): Fields | null {
  if (fields !== undefined) return fields;
  const probe = new Socket();
  const by = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const [buffer, gen, cb] = [by.get('kBuffer'), by.get('kBufferGen'), by.get('kBufferCb')];
  fields = buffer && gen && cb ? { buffer, gen, cb } : null;
  return fields;
}

/** Buffers switched sockets read into: made, and reused; sockets switched now (tests, diagnostics). */
export const slotCounters = {
  made: 0,
  reused: 0,
  get switched(): number {
    return switched;
  },
};

type Handle = { useUserBuffer?: (buf: Uint8Array) => void };

/**
 * From the next read on, `socket` reads into buffers of its own and hands each read to
 * `deliver` instead of emitting 'data': `done` gives the memory back (call it once
 * nothing refers to the chunk any more), and a false return stops reading until
 * `socket.resume()`. EOF and errors come as before ('end', 'error'). Returns false,
 * changing nothing, when the switch is not possible, or not now (`MAX_SWITCHED`).
 */
export function readIntoSlots(socket: Socket, deliver: (chunk: Buffer, done: () => void) => boolean): boolean {
  const f = onreadFields();
  const handle = (socket as unknown as { _handle?: Handle | null })._handle;
  if (!f || typeof handle?.useUserBuffer !== 'function' || socket.destroyed || socket.readableLength !== 0) return false;
  if (switched >= MAX_SWITCHED) return false;
  switched++;
  socket.once('close', () => switched--);
  const free: Buffer[] = [];
  const take = (): Buffer => {
    const b = free.pop();
    if (b) {
      slotCounters.reused++;
      return b;
    }
    slotCounters.made++;
    return Buffer.allocUnsafeSlow(SLOT_BYTES);
  };
  let cur = take();
  const s = socket as unknown as Record<symbol, unknown>;
  // Node calls the callback with each read, then the generator for the next buffer.
  s[f.cb] = (n: number): boolean => {
    const slot = cur;
    return deliver(slot.subarray(0, n), () => {
      if (free.length < KEEP) free.push(slot);
    });
  };
  s[f.gen] = (): Buffer => (cur = take());
  s[f.buffer] = cur;
  handle.useUserBuffer(cur);
  return true;
}
