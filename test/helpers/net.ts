import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

/** A TCP server on loopback that echoes everything back. */
export async function echoServer(host = '127.0.0.1'): Promise<{ port: number; server: net.Server; close(): Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as net.AddressInfo;
  return { port, server, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * A TCP server on loopback that sends `size` bytes to every client, then holds the
 * connection open without a word: a transfer in flight whose client has read all
 * there is. (A client that still has unread data when a reset arrives can read EOF
 * instead of ECONNRESET on Linux 6.x, so only a drained client tells a reset from a
 * clean end.)
 */
export async function quietSource(size: number, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    s.write(randomBytes(size));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        for (const s of open) s.destroy();
      }),
  };
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Sends `payload` on a fresh socket from `connect`, ends, and collects what comes back. */
export async function roundTrip(sock: NodeJS.ReadWriteStream & { end(): void }, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.write(payload);
    sock.end();
  });
}

export { randomBytes };
