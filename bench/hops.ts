/**
 * Where a new connection's time goes, on the wire. Each forwarder carries `--rr`
 * sequential request/reply connections (the bench's "new conn" case) while `tcpdump`
 * records them on loopback; every packet is named by who sent it (client, forwarder,
 * sshd, target) and, for the commonest sequence of packets per connection, the median
 * time of each after the client's SYN is printed. Session 29 read the new-connection gap
 * off this (`HISTORY.md`): the forwarder's three hops, SYN → OPEN, sshd's confirmation →
 * the client's byte as DATA, sshd's reply → the client.
 *
 *   node --import tsx bench/hops.ts [--rr N] [--from F] [--cipher aes|chacha] cli ssh 'label=cmd args' ...
 *
 * Peers as in `ab.ts`: `cli` is `bin/burrow.js` (build `dist/` first), `ssh` OpenSSH,
 * `standin` the ssh2 stand-in, any other `label=command`. `--from 0.5` (the default)
 * reads the connections after the first half (a fresh process warms up over the first).
 * Needs `tcpdump`. Hold /tmp/burrow-bench.lock around it like any bench run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, installSignalHandlers, run, sleep, startDaemon } from './lib/proc.js';
import { freePort } from './lib/ports.js';
import { startSshd } from './lib/sshd.js';
import { median } from './lib/stats.js';
import { buildTools } from './lib/tools.js';
import { connLatency } from './cases/traffic.js';
import { AES, CHACHA, namedPeer, type ForwardPlan, type PeerEnv } from './peers/index.js';
import { takeOption } from './lib/args.js';

interface Packet {
  t: number;
  from: number;
  to: number;
  flags: string;
  len: number;
}

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => takeOption(argv, name, dflt);
const count = Number(opt('--rr', '500'));
const from = Number(opt('--from', '0.5'));
const cipher = opt('--cipher', 'aes') === 'chacha' ? CHACHA : AES;
const peers = argv.map(namedPeer);
if (peers.length === 0) throw new Error('name at least one peer: cli, ssh, standin, relay or label=command');

/** `tcpdump -r -tt -nn` lines: time, ports, flags and payload length of each TCP packet. */
function parse(text: string): Packet[] {
  const out: Packet[] = [];
  const re = /^(\d+\.\d+) IP \S+\.(\d+) > \S+\.(\d+): Flags \[([^\]]*)\].*length (\d+)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) out.push({ t: Number(m[1]), from: Number(m[2]), to: Number(m[3]), flags: m[4] as string, len: Number(m[5]) });
  }
  return out;
}

/** Who sent a packet, from the three listening ports (the rest are ephemeral). */
function role(p: Packet, ports: { listen: number; sshd: number; target: number }): string {
  if (p.to === ports.listen) return 'client → forwarder';
  if (p.from === ports.listen) return 'forwarder → client';
  if (p.to === ports.sshd) return 'forwarder → sshd';
  if (p.from === ports.sshd) return 'sshd → forwarder';
  if (p.to === ports.target) return 'sshd → target';
  if (p.from === ports.target) return 'target → sshd';
  return '?';
}

/** Each connection from its SYN: the packets that carry bytes or open or close something. */
function report(packets: Packet[], ports: { listen: number; sshd: number; target: number }): string {
  const conns: Packet[][] = [];
  for (const p of packets) {
    if (p.to === ports.listen && p.flags === 'S') conns.push([p]);
    else if (conns.length > 0 && (p.len > 0 || /[SFR]/.test(p.flags))) conns[conns.length - 1]?.push(p);
  }
  const read = conns.slice(Math.floor(conns.length * from));
  const bySequence = new Map<string, Packet[][]>();
  for (const c of read) {
    const key = c.map((p) => `${role(p, ports)} ${p.flags} ${p.len}`).join('|');
    (bySequence.get(key) ?? bySequence.set(key, []).get(key))?.push(c);
  }
  const [key, group] = [...bySequence].sort((a, b) => b[1].length - a[1].length)[0] ?? ['', []];
  const lines = [`${read.length} connections read, ${group.length} in the commonest sequence:`, '  ms after SYN   (step)   packet'];
  let prev = 0;
  key.split('|').forEach((what, i) => {
    const at = median(group.map((c) => ((c[i] as Packet).t - (c[0] as Packet).t) * 1000));
    lines.push(`  ${at.toFixed(3).padStart(8)}  (+${(at - prev).toFixed(3)})   ${what}`);
    prev = at;
  });
  return lines.join('\n');
}

installSignalHandlers();
const dir = await mkdtemp(join(tmpdir(), 'burrow-hops-'));
try {
  const tools = await buildTools();
  const sshd = await startSshd({ addr: '127.0.0.1', port: await freePort() });
  const target = await freePort();
  await startDaemon(tools.tcpbench, ['server', '127.0.0.1', String(target), String(await freePort())], { ready: /ready/, timeoutMs: 60_000 });
  const env: PeerEnv = { prefix: [], config: (c) => sshd.clientConfig(c) };
  for (const peer of peers) {
    const listen = await freePort();
    const ports = { listen, sshd: sshd.port, target };
    const plan: ForwardPlan = { local: [{ listen, host: '127.0.0.1', port: target }], remote: [], dynamic: [] };
    const running = await peer.peer(cipher).start(env, plan);
    const file = join(dir, `${peer.label}.pcap`);
    try {
      const filter = `tcp and (port ${listen} or port ${sshd.port} or port ${target})`;
      const capture = await startDaemon('tcpdump', ['-i', 'lo', '-nn', '-s', '128', '-U', '-w', file, filter], { ready: /listening on/ });
      const m = await connLatency(tools.tcpbench, { prefix: [], host: '127.0.0.1', port: listen }, 'rr', count);
      // tcpdump loses what its ring still holds when stopped: a short run (`--rr 20`) read
      // no connection at all (wanprobe.ts waits the same).
      await sleep(1000);
      await capture.stop();
      const r = await run('tcpdump', ['-r', file, '-tt', '-nn']);
      console.log(`${peer.label}: ${count} connections, median ${Number(m.latency).toFixed(3)} ms each`);
      console.log(report(parse(r.stdout), ports));
    } finally {
      await running.stop();
    }
  }
} finally {
  await cleanupAll();
  await rm(dir, { recursive: true, force: true });
}
