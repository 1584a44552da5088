/**
 * Facts about a public key blob in SSH wire format (RFC 4253 §6.6): its type name,
 * its fingerprint, and how OpenSSH names it to people.
 */
import { createHash } from 'node:crypto';

/**
 * The key type named by the blob's first string field (`ssh-ed25519`, `ssh-rsa`,
 * `ecdsa-sha2-nistp256`...), or undefined when the blob is not SSH wire format.
 */
export function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.toString('latin1', 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/**
 * The SHA-256 fingerprint exactly as `ssh-keygen -lf` prints it: `SHA256:` and the
 * unpadded base64 of the digest of the blob.
 *
 * @example
 * fingerprintSha256(Buffer.from(base64FromKnownHostsLine, 'base64')); // 'SHA256:n4Vd…'
 */
export function fingerprintSha256(keyBlob: Buffer): string {
  const digest = createHash('sha256').update(keyBlob).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

const DISPLAY_NAMES: Record<string, string> = {
  'ssh-ed25519': 'ED25519',
  'ssh-rsa': 'RSA',
  'ssh-dss': 'DSA',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'sk-ssh-ed25519@openssh.com': 'ED25519-SK',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'ECDSA-SK',
  'ssh-ed448': 'ED448',
};

/** The short name OpenSSH uses in messages ("ED25519 key fingerprint is ..."). */
export function displayKeyType(keyType: string): string {
  return DISPLAY_NAMES[keyType] ?? keyType;
}

/**
 * The host key algorithms (ssh2's `algorithms.serverHostKey` names) that make a server
 * present a key of `keyType`. An RSA key is negotiated under three names.
 */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}
