/**
 * The demo server's identity: a fresh ed25519 host key per start, never written to disk
 * except as the public half in a throwaway known_hosts file.
 */
import { createHash } from 'node:crypto';
import ssh2, { type ParsedKey } from 'ssh2';
import { BurrowError } from '../errors.js';

export interface DemoHostKey {
  /** The private key, OpenSSH format, for ssh2's `hostKeys`. */
  readonly privateKey: string;
  /** The public key as OpenSSH writes it: `ssh-ed25519 AAAA...` (no comment). */
  readonly publicKey: string;
  /** The public key blob in SSH wire format. */
  readonly blob: Buffer;
  /** `SHA256:...` exactly as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
}

/**
 * A new ed25519 key pair in OpenSSH format. ssh2 1.17's generator drops a leading zero
 * byte of the public key about once in 200 keys and then cannot parse its own output:
 * draw again in that case.
 */
export function generateEd25519Pair(): { public: string; private: string } {
  let pair = ssh2.utils.generateKeyPairSync('ed25519');
  for (let i = 0; i < 16 && !isWellFormed(pair); i++) pair = ssh2.utils.generateKeyPairSync('ed25519');
  return pair;
}

/** Generates a new ed25519 host key. */
export function generateHostKey(): DemoHostKey {
  const pair = generateEd25519Pair();
  const parsed = parseOne(pair.public);
  const blob = parsed.getPublicSSH();
  return {
    privateKey: pair.private,
    publicKey: `${parsed.type} ${blob.toString('base64')}`,
    blob,
    fingerprint: fingerprintOf(blob),
  };
}

function isWellFormed(pair: { public: string; private: string }): boolean {
  return !(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error);
}

/** The SHA-256 fingerprint of a key blob: `SHA256:` and unpadded base64. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * How known_hosts names a host on a port: plain `host` on 22, `[host]:port` otherwise.
 *
 * @example
 * knownHostsPattern('127.0.0.1', 2222); // '[127.0.0.1]:2222'
 */
export function knownHostsPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Parses one public or private key with ssh2, turning its error value into a BurrowError. */
export function parseOne(data: Buffer | string): ParsedKey {
  const parsed = ssh2.utils.parseKey(data);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (key === undefined || key instanceof Error) {
    const why = key instanceof Error ? key.message : 'no key found';
    throw new BurrowError('KEY_UNREADABLE', `cannot parse key: ${why}`, { phase: 'config', cause: key });
  }
  return key;
}
