/**
 * The small web page that sits behind the demo tunnel, on 127.0.0.1 and a free port.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface DemoHttpService {
  readonly host: string;
  readonly port: number;
  /** Requests answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export const GREETING = 'Hello from the far side of the tunnel';

/**
 * Starts the page: `/` answers a small HTML page with the greeting, the time and a
 * request counter; anything else is 404.
 *
 * @example
 * const web = await startDemoHttpService();
 * const res = await fetch(`http://127.0.0.1:${web.port}/`); // 200, "Hello from the far side..."
 * await web.close();
 */
export async function startDemoHttpService(opts: { port?: number } = {}): Promise<DemoHttpService> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    if (req.url !== '/' && req.url !== '/index.html') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /\n');
      return;
    }
    requests++;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(requests, new Date()));
  });
  server.on('connection', (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: opts.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  let closing: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    get requests() {
      return requests;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive clients would hold close() open: idle ones go now, the rest after their response.
        server.closeIdleConnections();
        for (const s of sockets) s.end();
      });
      return closing;
    },
  };
}

function page(count: number, now: Date): string {
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>burrow demo</title></head><body>',
    `<h1>${GREETING}</h1>`,
    `<p>Server time: ${now.toISOString()}</p>`,
    `<p>Requests served: ${count}</p>`,
    '<p>This page travelled through an SSH tunnel made by burrow.</p>',
    '</body></html>',
    '',
  ].join('\n');
}
