/**
 * `burrow demo`: an embedded SSH server and a web page on loopback, a real `-L` tunnel
 * through burrow's own client (injected as `openTunnel`, so this module never imports
 * the client layer), one page fetched through it, then wait for Ctrl-C or stop (`once`).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abortError, BurrowError, toBurrowError } from '../errors.js';
import { startDemoHttpService } from './http-service.js';
import { startDemoSshServer } from './ssh-server.js';

export interface OpenTunnelArgs {
  sshHost: string;
  sshPort: number;
  user: string;
  password: string;
  /** A known_hosts file holding the demo server's key: verify strictly against it. */
  knownHostsFile: string;
  /** 0: pick a free port. */
  localPort: number;
  target: { host: string; port: number };
  /** Aborts when the demo is stopped while the tunnel is still opening. */
  signal?: AbortSignal;
}

export interface DemoTunnel {
  /** The port actually bound. */
  localPort: number;
  close(): Promise<void>;
}

export interface RunDemoOptions {
  /** Fetch once, close everything and return; otherwise wait until `signal` aborts. */
  once: boolean;
  /** Where progress lines go (one line per call, no trailing newline). */
  out: (line: string) => void;
  signal?: AbortSignal;
  /** Local port of the tunnel. Default 0: a free one, printed. */
  localPort?: number;
  openTunnel: (args: OpenTunnelArgs) => Promise<DemoTunnel>;
}

export interface DemoResult {
  sshPort: number;
  httpPort: number;
  localPort: number;
  /** HTTP status of the page fetched through the tunnel. */
  status: number;
}

const FETCH_TIMEOUT_MS = 15_000;

/**
 * Runs the demo.
 *
 * @example
 * const ac = new AbortController();
 * process.once('SIGINT', () => ac.abort());
 * await runDemo({ once: false, out: console.log, signal: ac.signal, openTunnel });
 */
export async function runDemo(opts: RunDemoOptions): Promise<DemoResult> {
  if (!opts.once && !opts.signal) {
    throw new BurrowError('USAGE', 'runDemo needs a signal to stop on unless once is true', { phase: 'cli' });
  }
  const cleanups: Array<() => Promise<void>> = [];
  let result: DemoResult;
  try {
    result = await demo(opts, cleanups);
  } catch (e) {
    await closeAll(cleanups).catch(() => undefined);
    throw e;
  }
  await closeAll(cleanups);
  return result;
}

async function demo(opts: RunDemoOptions, cleanups: Array<() => Promise<void>>): Promise<DemoResult> {
  const { out, signal } = opts;
  const check = (): void => {
    if (signal?.aborted) throw abortError(signal, 'demo');
  };
  check();
  const dir = await mkdtemp(join(tmpdir(), 'burrow-demo-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o700);

  const web = await startDemoHttpService();
  cleanups.push(() => web.close());
  out(`web page listening on http://127.0.0.1:${web.port}/ (loopback only: it stands for a service on a cluster node)`);

  const user = 'demo';
  const password = randomBytes(12).toString('base64url');
  const ssh = await startDemoSshServer({ users: { [user]: password } });
  cleanups.push(() => ssh.close());
  out(`demo SSH server started at ${ssh.host}:${ssh.port} (user ${user}, one-time password)`);
  out(`host key fingerprint ED25519 ${ssh.fingerprint} (fresh for this run)`);

  const knownHostsFile = join(dir, 'known_hosts');
  await writeFile(knownHostsFile, `${ssh.hostKeyLine()}\n`, { mode: 0o600, flag: 'wx' });
  check();

  const tunnel = await opts.openTunnel({
    sshHost: ssh.host,
    sshPort: ssh.port,
    user,
    password,
    knownHostsFile,
    localPort: opts.localPort ?? 0,
    target: { host: web.host, port: web.port },
    signal,
  });
  cleanups.push(() => tunnel.close());
  const url = `http://127.0.0.1:${tunnel.localPort}/`;
  out(`tunnel 127.0.0.1:${tunnel.localPort} → ${web.host}:${web.port} via demo SSH server ${ssh.host}:${ssh.port}`);

  const page = await fetchPage(url, signal);
  out(`GET ${url} → ${page.status} ${page.statusText}: "${page.firstLine}"`);
  const result = { sshPort: ssh.port, httpPort: web.port, localPort: tunnel.localPort, status: page.status };

  out(`try: curl ${url}`);
  if (opts.once) return result;
  out(
    `try: ssh -p ${ssh.port} -o UserKnownHostsFile=${knownHostsFile} ${user}@${ssh.host} uname -a` +
      `   (password ${password}, valid until the demo stops)`,
  );
  out('press Ctrl-C to stop');
  await untilAborted(signal as AbortSignal);
  out(`stopping: the page was served ${web.requests} time(s) through the tunnel`);
  return result;
}

interface Page {
  status: number;
  statusText: string;
  /** The first line of visible text, markup stripped. */
  firstLine: string;
}

/**
 * One HTTP/1.0 GET over a plain socket, read to the server's close. Unlike node:http,
 * which cuts the socket as soon as the response is complete, this ends it gracefully,
 * so the tunnel sees an orderly close rather than a reset client.
 */
async function fetchPage(url: string, signal: AbortSignal | undefined): Promise<Page> {
  const { hostname, port } = new URL(url);
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const raw = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = connect({ host: hostname, port: Number(port), noDelay: true });
      const onAbort = (): void => {
        sock.destroy();
        reject(both.reason);
      };
      both.addEventListener('abort', onAbort, { once: true });
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      sock.once('error', reject);
      sock.once('close', () => both.removeEventListener('abort', onAbort));
      sock.write(`GET / HTTP/1.0\r\nHost: ${hostname}:${port}\r\nUser-Agent: burrow-demo\r\n\r\n`);
    });
    return parsePage(raw);
  } catch (e) {
    if (signal?.aborted) throw abortError(signal, 'demo');
    const why = e instanceof Error ? e.message : String(e);
    throw new BurrowError('CONNECT_FAILED', `fetching ${url} through the tunnel failed: ${why}; the tunnel opened but the page did not arrive`, {
      phase: 'forward',
      cause: e,
    });
  }
}

function parsePage(raw: string): Page {
  const status = /^HTTP\/\d\.\d (\d{3}) ?([^\r\n]*)/.exec(raw);
  if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(raw.slice(0, 40))}`);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  const firstLine =
    body
      .replace(/<head[\s\S]*?<\/head>/i, '')
      .split('\n')
      .map((l) => l.replace(/<[^>]*>/g, '').trim())
      .find((l) => l !== '') ?? '';
  return { status: Number(status[1]), statusText: status[2] ?? '', firstLine };
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Closes in reverse order of opening; the first failure is rethrown after all ran. */
async function closeAll(cleanups: Array<() => Promise<void>>): Promise<void> {
  let first: unknown;
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw toBurrowError(first);
}
