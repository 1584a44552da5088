/**
 * Packets cut by read boundaries, through ssh2's own ciphers (the patch's `[in place]`,
 * patches/README.md): on a transport whose reads stay put (burrow's read arena), the
 * pieces of a cut packet are decrypted where they lie when they are adjacent, and copied
 * when they are not. Either way every payload must come out intact and authenticated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

interface CipherInfo {
  keyLen: number;
  ivLen: number;
}
interface Cipher {
  allocPacket(payloadLen: number): Buffer;
  encrypt(packet: Buffer): void;
}
interface Decipher {
  decrypt(data: Uint8Array, p: number, len: number): void;
}
const ssh2crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, CipherInfo>;
  bindingAvailable: boolean;
  init: Promise<void>;
  createCipher(config: object): Cipher;
  createDecipher(config: object): Decipher;
};

const CIPHERS = ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'];
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic sizes in [1, n]: the same cuts in every run. */
function sizes(seed: number, n: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 1 + (x % n);
  };
}

/** `count` packets of random payloads (up to 32 KiB) encrypted back to back into one buffer, as they arrive. */
function wire(name: string, key: Buffer, iv: Buffer, count: number): { stream: Buffer; payloads: Buffer[] } {
  const info = ssh2crypto.CIPHER_INFO[name] as CipherInfo;
  const out: Buffer[] = [];
  const cipher = ssh2crypto.createCipher({
    outbound: { onWrite: (p: Buffer) => out.push(Buffer.from(p)), seqno: 0, cipherInfo: info, cipherKey: key, cipherIV: iv },
  });
  const size = sizes(7, 32 * 1024);
  const payloads: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = randomBytes(i % 5 === 0 ? 32 * 1024 : size());
    const packet = cipher.allocPacket(payload.length);
    payload.copy(packet, 5);
    cipher.encrypt(packet);
    payloads.push(payload);
  }
  return { stream: Buffer.concat(out), payloads };
}

/** ssh2's decipher for `name`, starting at sequence number 0. */
function decipherFor(name: string, key: Buffer, iv: Buffer, stableReads: boolean, onPayload: (p: Buffer) => void): Decipher {
  const info = ssh2crypto.CIPHER_INFO[name] as CipherInfo;
  return ssh2crypto.createDecipher({ inbound: { onPayload, seqno: 0, decipherInfo: info, decipherKey: key, decipherIV: iv, stableReads } });
}

/**
 * Feeds `stream` (decrypted where it lies: pass a copy) to a decipher in reads of 1 B to
 * `maxRead`, each a view of `stream` itself (reads landing one after another, as in the
 * arena) unless `moved(i)` says that read lands elsewhere (a copy). Returns the payloads
 * (copied) and how many of them were still views of `stream`, i.e. were decrypted where
 * they arrived.
 */
function feed(name: string, key: Buffer, iv: Buffer, stream: Buffer, opts: { stable: boolean; maxRead: number; moved?: (i: number) => boolean }): { payloads: Buffer[]; inPlace: number } {
  const payloads: Buffer[] = [];
  let inPlace = 0;
  const decipher = decipherFor(name, key, iv, opts.stable, (p) => {
    if (p.buffer === stream.buffer) inPlace++;
    payloads.push(Buffer.from(p));
  });
  const size = sizes(11, opts.maxRead);
  for (let off = 0, i = 0; off < stream.length; i++) {
    const n = Math.min(size(), stream.length - off);
    const view = stream.subarray(off, off + n);
    const read = opts.moved?.(i) ? Buffer.from(view) : view;
    decipher.decrypt(read, 0, read.length);
    off += n;
  }
  return { payloads, inPlace };
}

for (const name of CIPHERS) {
  const info = ssh2crypto.CIPHER_INFO[name] as CipherInfo;
  const key = randomBytes(info.keyLen);
  const iv = randomBytes(info.ivLen);

  test(`${name}: packets cut by adjacent reads are decrypted where they lie, intact`, async () => {
    await ssh2crypto.init;
    assert.ok(ssh2crypto.bindingAvailable, "ssh2's crypto binding must be built (npm ci builds it)");
    const { stream, payloads } = wire(name, key, iv, 200);
    // Reads of up to 96 KiB (as at 50 ms RTT) and up to 300 B (a packet in many pieces).
    for (const maxRead of [96 * 1024, 300]) {
      const r = feed(name, key, iv, Buffer.from(stream), { stable: true, maxRead });
      assert.equal(r.payloads.length, payloads.length);
      assert.equal(sha(Buffer.concat(r.payloads)), sha(Buffer.concat(payloads)));
      // Every packet, cut or whole, was decrypted in the reads' own memory: no copy.
      assert.equal(r.inPlace, payloads.length, `maxRead ${maxRead}`);
    }
  });

  test(`${name}: pieces that do not lie next to each other, or a transport that does not promise its reads stay put, are copied, intact`, async () => {
    await ssh2crypto.init;
    const { stream, payloads } = wire(name, key, iv, 200);
    // Every third read lands in other memory (an arena switch), or nothing is promised.
    for (const opts of [{ stable: true, maxRead: 80 * 1024, moved: (i: number) => i % 3 === 1 }, { stable: false, maxRead: 80 * 1024 }]) {
      const r = feed(name, key, iv, Buffer.from(stream), opts);
      assert.equal(sha(Buffer.concat(r.payloads)), sha(Buffer.concat(payloads)));
      assert.ok(r.inPlace < payloads.length, 'cut packets were copied');
    }
  });

  test(`${name}: a byte changed in a packet cut across reads fails authentication`, async () => {
    await ssh2crypto.init;
    const { stream } = wire(name, key, iv, 20);
    // The first packet carries 32 KiB: reads of 20000 B cut it. Change a byte of its second piece.
    const bad = Buffer.from(stream);
    bad[25000] = (bad[25000] as number) ^ 1;
    const decipher = decipherFor(name, key, iv, true, () => undefined);
    let off = 0;
    assert.throws(() => {
      for (; off < bad.length; off += 20000) decipher.decrypt(bad.subarray(off, off + 20000), 0, Math.min(20000, bad.length - off));
    });
    // At the read that completed the cut packet, not later.
    assert.equal(off, 20000);
  });
}
