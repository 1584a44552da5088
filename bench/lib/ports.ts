import net from 'node:net';

/** Ports this process was given: the kernel may hand a freed port straight back. */
const given = new Set<number>();

/**
 * A TCP port that is free on 127.0.0.1 right now (the kernel picks it), and not one this
 * process was given before: a run asks for several in a row (a forwarder's `-L`, `-R`
 * and `-D` ports), and once two of them came out the same, every forwarder of the group
 * failed to listen.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await kernelPort();
    if (given.has(port)) continue;
    given.add(port);
    return port;
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
