/**
 * Notices when the network comes back: a local address appears or changes (Wi-Fi
 * rejoined, VPN up, cable in). Polls `os.networkInterfaces()` once a second, which is
 * cheap, for as long as a connection is up (a change may have killed it silently) or
 * a reconnect is waiting.
 */
import os from 'node:os';

function fingerprint(): string {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal) out.push(`${name}/${a.address}`);
  }
  return out.sort().join(',');
}

/** Calls `onChange` when the set of non-loopback addresses changes; returns a stop function. */
export function watchNetwork(onChange: () => void, everyMs = 1000): () => void {
  let last = fingerprint();
  const timer = setInterval(() => {
    const now = fingerprint();
    if (now !== last) {
      last = now;
      onChange();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
