/**
 * The delayed site the probes run on (`wanprobe.ts`, `connprobe.ts`): the namespaces
 * joined by the delay line, sshd and the target (`tcpbench server`, ports 27001/27002)
 * in the server namespace. `run.ts` builds the same for its latency groups.
 */
import { createDelayedPair, hostBuffers, SERVER_ADDR, TUNED_BUFFERS, type DelayedPair } from './netns.js';
import { cleanupAll, startDaemon } from './proc.js';
import { startSshd, type Sshd } from './sshd.js';
import type { Tools } from './tools.js';
import type { PeerEnv } from '../peers/index.js';

export interface Site {
  pair: DelayedPair;
  sshd: Sshd;
  /** Where forwarders run (the client namespace) and their ssh_config. */
  env: PeerEnv;
}

/**
 * Runs `fn` on a site at `rttMs` with default or tuned buffers (and congestion control
 * `cc`, the host's unless given), then stops and removes it all.
 */
export async function onDelayedSite(tools: Tools, rttMs: number, buffers: 'default' | 'tuned', fn: (site: Site) => Promise<void>, cc?: string): Promise<void> {
  const pair = await createDelayedPair(tools.delayline, rttMs, cc);
  try {
    await pair.setBuffers(buffers === 'tuned' ? TUNED_BUFFERS : await hostBuffers());
    const sshd = await startSshd({ addr: SERVER_ADDR, port: 2222, prefix: pair.inServer });
    const server = await startDaemon(pair.inServer[0] as string, [...pair.inServer.slice(1), tools.tcpbench, 'server', SERVER_ADDR, '27001', '27002'], {
      ready: /ready/,
      timeoutMs: 60_000,
    });
    await fn({ pair, sshd, env: { prefix: pair.inClient, config: (c) => sshd.clientConfig(c) } });
    await server.stop();
    await sshd.stop();
  } finally {
    await pair.stop();
    await cleanupAll();
  }
}

/** A probe's `main`: on an error, says it, cleans up and exits 1. */
export function runProbe(main: () => Promise<void>): void {
  main().catch(async (err: unknown) => {
    console.error(err);
    await cleanupAll();
    process.exitCode = 1;
  });
}
