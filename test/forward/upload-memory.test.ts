/**
 * Uploads in reused memory, through a real sshd: local sockets read into buffers of
 * their own once they carry bulk data (src/forward/local-reads.ts), and ssh2 cuts the
 * outgoing packets from reused chunks (the patch's `[write slab]`); with AES-GCM, native
 * code reads the sockets and seals the packets instead (src/ssh/native-pump.ts). Between
 * burrow and sshd sits a proxy that keeps stopping reading, so packets wait in burrow's
 * socket and the channels wait for window: whatever waits, the bytes must arrive intact.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { createRequire } from 'node:module';
import { startForward } from '../../src/forward/index.js';
import { slotCounters } from '../../src/forward/local-reads.js';
import { nativeTxCounters } from '../../src/ssh/native-tx.js';
import { pumpCounters } from '../../src/ssh/native-pump.js';
import { parseForwardSpec } from '../../src/config/forward-spec.js';
import { Session } from '../../src/ssh/session.js';
import { sshdConfig } from '../helpers/config.js';
import { MiB, connect, exchange, random, sha256, startEnv, startTarget, type Env } from './util.js';

const slab = createRequire(import.meta.url)('ssh2/lib/protocol/slab.js') as { counters: { made: number; reused: number; waited: number } };

let env: Env;

before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.stop();
});

/**
 * A TCP proxy to `port` that stops reading the client for 60 ms after every 3 MiB it
 * took from it: the client's socket buffers fill and its writes wait in Node.
 */
async function stallingProxy(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    upstream.pipe(client);
    let taken = 0;
    client.on('data', (c: Buffer) => {
      taken += c.length;
      if (!upstream.write(c)) client.pause();
      if (taken >= 3 * MiB) {
        taken = 0;
        client.pause();
        setTimeout(() => client.resume(), 60);
      }
    });
    upstream.on('drain', () => client.resume());
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

for (const cipher of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
  test(`${cipher}: eight uploads at once through a stalling link arrive intact, read into reused memory`, async (t) => {
    const proxy = await stallingProxy(env.sshd.port);
    const knownHosts = join(env.sshd.dir, `known_hosts.proxy-${proxy.port}`);
    writeFileSync(knownHosts, `[127.0.0.1]:${proxy.port} ${env.sshd.hostPublicKey.split(' ').slice(0, 2).join(' ')}\n`, { mode: 0o600 });
    const session = await Session.connect({ config: sshdConfig(env.sshd, { port: proxy.port, userKnownHostsFiles: [knownHosts], ciphers: [cipher] }) });
    const target = await startTarget(Buffer.from('ok'));
    const fwd = await startForward(parseForwardSpec('local', `0:127.0.0.1:${target.port}`), session);
    t.after(async () => {
      await fwd.close();
      await target.close();
      await session.close();
      await proxy.close();
    });
    const addr = fwd.address();
    assert.ok(addr?.type === 'tcp');
    if (addr?.type !== 'tcp') return;
    const slots = { ...slotCounters };
    const chunks = { ...slab.counters };
    const sealed = { ...nativeTxCounters };
    const pumped = { ...pumpCounters };
    // Eight channels of sshd's 2 MiB window each: more in flight than the socket buffers hold.
    const ups = Array.from({ length: 8 }, () => random(12 * MiB));
    const sockets = await Promise.all(ups.map(() => connect({ host: '127.0.0.1', port: addr.port })));
    const replies = await Promise.all(sockets.map((s, i) => exchange(s, ups[i] as Buffer)));
    for (const r of replies) assert.equal(r.length, 2);
    await target.waitReceived(ups.length);
    assert.deepEqual(target.received.map((r) => r.hash).sort(), ups.map(sha256).sort(), 'every upload arrived intact');
    if (cipher.startsWith('aes')) {
      // Sent natively, most of it read by the pump: straight to the socket while Node
      // held nothing for it, and queued on Node's socket behind what it held while the
      // link stalled. Each upload's first bulk read is a Channel write, sealed in one call.
      const reads = pumpCounters.reads - pumped.reads;
      const queued = pumpCounters.queued - pumped.queued;
      const bytes = pumpCounters.bytes - pumped.bytes;
      t.diagnostic(`pumped ${bytes} bytes in ${reads} reads, ${queued} of them queued; sealed ${nativeTxCounters.bytes - sealed.bytes} bytes per write`);
      assert.equal(bytes + nativeTxCounters.bytes - sealed.bytes, 8 * 12 * MiB, 'every byte was sealed natively');
      assert.ok(bytes > 8 * 8 * MiB, `only ${bytes} bytes pumped`);
      assert.ok(queued > 0 && reads - queued > 0, `${queued} of ${reads} reads queued: both paths ran`);
    } else {
      assert.ok(slotCounters.reused > slots.reused, 'local reads went to reused buffers');
      assert.ok(slab.counters.reused > chunks.reused, 'packets were cut from reused chunks');
      assert.ok(slab.counters.waited > chunks.waited, 'packets waited in the transport while new ones were cut');
    }
    assert.equal(fwd.stats.bytesOut, 8 * 12 * MiB);
  });
}
