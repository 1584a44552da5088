/**
 * A minimal ssh2-based forwarder with ssh's command line (`-N -F cfg -L/-R/-D ... host`),
 * standing in for burrow in the bench until burrow's CLI can forward. It uses the
 * patched ssh2 exactly as burrow does: one connection, one channel per TCP
 * connection, `stream.pipeline` both ways, TCP_NODELAY everywhere.
 *
 * Prints `forwarding` on stderr once every forward is listening.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { pipeline } from 'node:stream';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';

interface Forward {
  kind: 'L' | 'R' | 'D';
  bindHost: string;
  bindPort: number;
  host: string;
  port: number;
}

interface HostConfig {
  hostName: string;
  port: number;
  user: string;
  identityFile: string;
  knownHosts: string;
  ciphers: string[];
}

function parseArgs(argv: string[]): { configPath: string; host: string; forwards: Forward[] } {
  let configPath = '';
  let host = '';
  const forwards: Forward[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '-N') continue;
    else if (a === '-F') configPath = next();
    else if (a === '-L' || a === '-R') forwards.push(parseForward(a === '-L' ? 'L' : 'R', next()));
    else if (a === '-D') forwards.push(parseDynamic(next()));
    else if (a.startsWith('-')) throw new Error(`unsupported option ${a}`);
    else host = a;
  }
  if (!configPath || !host) throw new Error('usage: ssh2-forwarder -N -F cfg -L/-R/-D spec host');
  return { configPath, host, forwards };
}

function parseForward(kind: 'L' | 'R', spec: string): Forward {
  const parts = spec.split(':');
  if (parts.length === 3) parts.unshift('127.0.0.1');
  const [bindHost, bindPort, host, port] = parts;
  return { kind, bindHost: bindHost as string, bindPort: Number(bindPort), host: host as string, port: Number(port) };
}

function parseDynamic(spec: string): Forward {
  const parts = spec.split(':');
  const port = Number(parts.pop());
  return { kind: 'D', bindHost: parts[0] ?? '127.0.0.1', bindPort: port, host: '', port: 0 };
}

function readHostConfig(path: string, alias: string): HostConfig {
  const cfg: HostConfig = { hostName: alias, port: 22, user: 'root', identityFile: '', knownHosts: '', ciphers: [] };
  let active = false;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const [key, ...rest] = raw.trim().split(/\s+/);
    const value = rest.join(' ');
    if (!key || key.startsWith('#')) continue;
    const k = key.toLowerCase();
    if (k === 'host') active = rest.includes(alias) || rest.includes('*');
    else if (!active) continue;
    else if (k === 'hostname') cfg.hostName = value;
    else if (k === 'port') cfg.port = Number(value);
    else if (k === 'user') cfg.user = value;
    else if (k === 'identityfile') cfg.identityFile = value;
    else if (k === 'userknownhostsfile') cfg.knownHosts = value;
    else if (k === 'ciphers') cfg.ciphers = value.split(',');
  }
  return cfg;
}

function expectedHostKey(cfg: HostConfig): Buffer {
  const name = cfg.port === 22 ? cfg.hostName : `[${cfg.hostName}]:${cfg.port}`;
  for (const line of readFileSync(cfg.knownHosts, 'utf8').split('\n')) {
    const [names, , b64] = line.trim().split(/\s+/);
    if (names?.split(',').includes(name) && b64) return Buffer.from(b64, 'base64');
  }
  throw new Error(`no known_hosts entry for ${name}`);
}

function join(a: Duplex, b: Duplex): void {
  const onErr = (): void => {
    a.destroy();
    b.destroy();
  };
  pipeline(a, b, (err) => err && onErr());
  pipeline(b, a, (err) => err && onErr());
}

function listenLocal(fwd: Forward, onSocket: (s: net.Socket) => void): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    onSocket(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: fwd.bindHost, port: fwd.bindPort, backlog: 4096 }, () => resolve());
  });
}

function openChannel(conn: Client, s: net.Socket, host: string, port: number, onOpen?: () => void): void {
  conn.forwardOut(s.remoteAddress ?? '127.0.0.1', s.remotePort ?? 0, host, port, (err, ch) => {
    if (err) {
      s.destroy();
      return;
    }
    ch.on('error', () => ch.destroy());
    if (process.env.BENCH_DEBUG_WINDOW) {
      const t0 = Date.now();
      const log = process.env.BENCH_DEBUG_WINDOW as string;
      const tick = setInterval(() => {
        const c = ch as unknown as { _wtune?: { size: number; rtt: number; received: number; granted: number }; incoming: { window: number }; readableLength: number };
        const t = c._wtune;
        if (t) appendFileSync(log, `  +${Date.now() - t0} ms recv ${(t.received / 1048576).toFixed(1)} MiB size ${t.size / 1048576} rtt ${t.rtt.toFixed(1)} peerCredit ${(c.incoming.window / 1048576).toFixed(2)} buffered ${c.readableLength} sockbuf ${s.writableLength}\n`);
      }, 250);
      ch.on('close', () => {
        clearInterval(tick);
        const t = (ch as unknown as { _wtune?: { size: number; rtt: number; received: number } })._wtune;
        if (t) appendFileSync(process.env.BENCH_DEBUG_WINDOW as string, `window ${t.size / 1048576} MiB, rtt ${t.rtt.toFixed(1)} ms, ${t.received} bytes in ${Date.now() - t0} ms\n`);
      });
    }
    onOpen?.();
    join(s, ch);
  });
}

/** SOCKS5, no authentication, CONNECT only: enough for the bench's -D case. */
function socks(conn: Client, s: net.Socket): void {
  let buf = Buffer.alloc(0);
  let stage = 0;
  const onData = (d: Buffer): void => {
    buf = Buffer.concat([buf, d]);
    if (stage === 0) {
      if (buf.length < 2 || buf.length < 2 + (buf[1] as number)) return;
      buf = buf.subarray(2 + (buf[1] as number));
      s.write(Buffer.from([5, 0]));
      stage = 1;
    }
    if (stage === 1) {
      if (buf.length < 5) return;
      const atyp = buf[3];
      let host: string;
      let off: number;
      if (atyp === 1) {
        if (buf.length < 10) return;
        host = [...buf.subarray(4, 8)].join('.');
        off = 8;
      } else if (atyp === 3) {
        const len = buf[4] as number;
        if (buf.length < 7 + len) return;
        host = buf.subarray(5, 5 + len).toString();
        off = 5 + len;
      } else {
        s.destroy();
        return;
      }
      const port = buf.readUInt16BE(off);
      const rest = buf.subarray(off + 2);
      s.off('data', onData);
      s.pause();
      stage = 2;
      openChannel(conn, s, host, port, () => {
        s.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
        if (rest.length > 0) s.unshift(rest);
      });
    }
  };
  s.on('data', onData);
}

async function main(): Promise<void> {
  const { configPath, host, forwards } = parseArgs(process.argv.slice(2));
  const cfg = readHostConfig(configPath, host);
  const hostKey = expectedHostKey(cfg);
  const conn = new Client();
  const config: ConnectConfig = {
    host: cfg.hostName,
    port: cfg.port,
    username: cfg.user,
    privateKey: readFileSync(cfg.identityFile),
    hostVerifier: (key: Buffer) => key.equals(hostKey),
    readyTimeout: 20_000,
    ...(cfg.ciphers.length > 0 ? { algorithms: { cipher: cfg.ciphers as never } } : {}),
  };
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', resolve).once('error', reject).connect(config);
  });
  conn.setNoDelay(true);
  conn.on('error', (err) => {
    console.error('ssh2-forwarder:', err.message);
    process.exitCode = 255;
  });
  conn.on('close', () => process.exit());
  const remote = new Map<number, Forward>();
  conn.on('tcp connection', (info, accept) => {
    const fwd = remote.get(info.destPort);
    if (!fwd) return;
    const ch = accept();
    ch.on('error', () => ch.destroy());
    const s = net.connect({ host: fwd.host, port: fwd.port, allowHalfOpen: true, noDelay: true });
    s.on('error', () => s.destroy());
    join(s, ch);
  });
  for (const fwd of forwards) {
    if (fwd.kind === 'L') await listenLocal(fwd, (s) => openChannel(conn, s, fwd.host, fwd.port));
    else if (fwd.kind === 'D') await listenLocal(fwd, (s) => socks(conn, s));
    else {
      await new Promise<void>((resolve, reject) =>
        conn.forwardIn(fwd.bindHost, fwd.bindPort, (err) => (err ? reject(err) : resolve())),
      );
      remote.set(fwd.bindPort, fwd);
    }
  }
  console.error('forwarding');
}

main().catch((err: unknown) => {
  console.error('ssh2-forwarder:', err instanceof Error ? err.message : err);
  process.exit(255);
});
