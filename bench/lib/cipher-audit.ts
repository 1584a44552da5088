/**
 * Checks that each forwarder peer negotiates the cipher it is labelled with, before any
 * figure is taken: a peer started against a throwaway sshd that logs at DEBUG1, whose
 * `kex: client->server cipher:` lines say what was agreed (every hop, with -J). Until
 * 2026-12-04 burrow ignored `Ciphers` in the bench's config and its "chacha" columns
 * were aes128-gcm; a run with such a peer now fails at the start instead.
 */
import { freePort } from './ports.js';
import { startSshd } from './sshd.js';
import type { Peer } from '../peers/index.js';

/** Throws naming the peers whose negotiated cipher is not their own. */
export async function auditCiphers(peers: readonly Peer[]): Promise<void> {
  const wrong: string[] = [];
  for (const peer of peers) {
    if (!peer.cipher) continue;
    const sshd = await startSshd({ addr: '127.0.0.1', port: await freePort(), logLevel: 'DEBUG1' });
    try {
      const plan = { local: [{ listen: await freePort(), host: '127.0.0.1', port: 9 }], remote: [], dynamic: [] };
      const running = await peer.start({ prefix: [], config: (c) => sshd.clientConfig(c) }, plan);
      await running.stop();
      const got = [...sshd.log().matchAll(/kex: client->server cipher: (\S+)/g)].map((m) => m[1]);
      if (got.length === 0 || got.some((c) => c !== peer.cipher)) wrong.push(`${peer.id} negotiated ${got.join(', ') || 'nothing'}, not ${peer.cipher}`);
    } finally {
      await sshd.stop();
    }
  }
  if (wrong.length) throw new Error(`cipher check failed: ${wrong.join('; ')}`);
}
