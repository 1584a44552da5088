/**
 * Outgoing packets cut from reused memory (the patch's `[write slab]`,
 * `ssh2/lib/protocol/slab.js`, patches/README.md): a chunk is cut again only once the
 * transport is done with every byte of it. Modelled here by a transport that holds
 * what it was handed and lets go of it in order, a few writes at a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

interface Slab {
  alloc(len: number): Buffer;
  wrote(data: Uint8Array): void;
}
const require = createRequire(import.meta.url);
const { PacketSlab, counters, CHUNK } = require('ssh2/lib/protocol/slab.js') as {
  PacketSlab: new (pending: () => number) => Slab;
  counters: { made: number; reused: number; waited: number };
  CHUNK: number;
};
interface CipherInfo {
  keyLen: number;
  ivLen: number;
}
const ssh2crypto = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, CipherInfo>;
  bindingAvailable: boolean;
  init: Promise<void>;
  createCipher(config: object): { allocPacket(payloadLen: number): Buffer; encrypt(packet: Buffer): void };
  createDecipher(config: object): { decrypt(data: Uint8Array, p: number, len: number): void };
};

/** Deterministic numbers in [0, n): the same run every time. */
function rng(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return (x >>> 8) % n;
  };
}

/**
 * How many held writes the transport lets go of after each packet: mostly a trickle, now
 * and then all or part of its queue at once, and now and then nothing for up to 60
 * packets (~2 MiB, a socket whose peer stopped reading).
 */
function releases(seed: number): (queued: number) => number {
  const r = rng(seed);
  let hold = 0;
  return (queued) => {
    if (hold > 0) {
      hold--;
      return 0;
    }
    const x = r(100);
    if (x < 5) hold = 1 + r(60);
    else if (x < 15) return r(queued + 1);
    else return r(3);
    return 0;
  };
}

/** A transport in the model: holds each write until `complete()`, in order; `writableLength` as Node counts it. */
class HeldWrites {
  queue: { buf: Buffer; copy: Buffer }[] = [];
  writableLength = 0;
  write(buf: Buffer): void {
    this.queue.push({ buf, copy: Buffer.from(buf) });
    this.writableLength += buf.length;
  }
  /** Lets go of the oldest write; returns it, after checking nothing wrote over it meanwhile. */
  complete(): Buffer {
    const w = this.queue.shift();
    assert.ok(w);
    assert.ok(w.buf.equals(w.copy), 'a held write was overwritten before the transport was done with it');
    this.writableLength -= w.buf.length;
    return w.copy;
  }
  /** True when `buf` shares memory with a write still held. */
  overlaps(buf: Buffer): boolean {
    return this.queue.some(({ buf: h }) => h.buffer === buf.buffer && h.byteOffset < buf.byteOffset + buf.length && buf.byteOffset < h.byteOffset + h.length);
  }
}

test('a chunk is cut again only once the transport is done with every byte cut from it', () => {
  const before = { ...counters };
  const t = new HeldWrites();
  const slab = new PacketSlab(() => t.writableLength);
  const r = rng(3);
  const release = releases(4);
  for (let i = 0; i < 20_000; i++) {
    // Packet sizes as ssh2 makes them (a window adjust to a full 32 KiB data packet).
    const p = slab.alloc(i % 3 === 0 ? 32_800 : 16 + r(33_000));
    assert.ok(!t.overlaps(p), `packet ${i} was cut from memory the transport still holds`);
    p.fill(i & 0xff);
    slab.wrote(p);
    t.write(p);
    for (let k = release(t.queue.length); k > 0 && t.queue.length > 0; k--) t.complete();
  }
  while (t.queue.length > 0) t.complete();
  assert.ok(counters.reused > before.reused, 'chunks were reused');
  assert.ok(counters.waited > before.waited, 'a chunk was still held when the next one was needed');
});

test('a packet larger than a chunk gets memory of its own', () => {
  const t = new HeldWrites();
  const slab = new PacketSlab(() => t.writableLength);
  const small = slab.alloc(100);
  const big = slab.alloc(CHUNK + 1);
  assert.equal(big.length, CHUNK + 1);
  assert.notEqual(big.buffer, small.buffer);
});

for (const name of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
  test(`${name}: packets from a slab, held by the transport and let go in bursts, decrypt intact`, async () => {
    await ssh2crypto.init;
    assert.ok(ssh2crypto.bindingAvailable, "ssh2's crypto binding must be built (npm ci builds it)");
    const info = ssh2crypto.CIPHER_INFO[name] as CipherInfo;
    const key = randomBytes(info.keyLen);
    const iv = randomBytes(info.ivLen);
    const t = new HeldWrites();
    const slab = new PacketSlab(() => t.writableLength);
    const cipher = ssh2crypto.createCipher({
      outbound: {
        onWrite: (p: Buffer) => {
          slab.wrote(p);
          t.write(p);
        },
        seqno: 0,
        cipherInfo: info,
        cipherKey: key,
        cipherIV: iv,
        slab,
      },
    });
    const sent = createHash('sha256');
    const got = createHash('sha256');
    const decipher = ssh2crypto.createDecipher({
      inbound: { onPayload: (p: Buffer) => void got.update(p), seqno: 0, decipherInfo: info, decipherKey: key, decipherIV: iv },
    });
    const r = rng(5);
    const release = releases(6);
    for (let i = 0; i < 3000; i++) {
      const payload = randomBytes(i % 2 === 0 ? 32 * 1024 : 1 + r(32 * 1024));
      sent.update(payload);
      const packet = cipher.allocPacket(payload.length);
      assert.equal(packet.buffer.byteLength, CHUNK, 'the packet was cut from a slab chunk');
      payload.copy(packet, 5);
      cipher.encrypt(packet);
      for (let k = release(t.queue.length); k > 0 && t.queue.length > 0; k--) {
        const w = t.complete();
        decipher.decrypt(w, 0, w.length);
      }
    }
    while (t.queue.length > 0) {
      const w = t.complete();
      decipher.decrypt(w, 0, w.length);
    }
    assert.equal(got.digest('hex'), sent.digest('hex'));
  });
}
