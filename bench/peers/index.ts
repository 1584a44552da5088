/**
 * The programs compared side by side: raw TCP (the limit), OpenSSH's `ssh -N` and
 * burrow, each with the same cipher against the same sshd.
 */
import { resolve } from 'node:path';
import { run, sleep, startDaemon, type Daemon } from '../lib/proc.js';
import { BENCH_HOST } from '../lib/sshd.js';
import { freePort } from '../lib/ports.js';

/**
 * burrow's CLI, run the way a user runs it (`dist/` must be built): the script itself,
 * through its `#!` line (`node` from PATH), as a user's `burrow` is.
 */
export const BURROW_CLI: string[] = [resolve('bin/burrow.js')];
/** The ssh2-based stand-in used before the CLI could forward (same patched ssh2). */
export const BURROW_STANDIN: string[] = [process.execPath, '--import', 'tsx', 'bench/peers/ssh2-forwarder.ts'];

/**
 * How burrow is started: arguments before ssh's (`-N -F cfg -L ... host`). The one
 * line to change to bench something else; `--standin` or BURROW_BENCH_CMD='...' too.
 */
let burrowCommand: string[] = process.env.BURROW_BENCH_CMD?.split(' ') ?? BURROW_CLI;

export function setBurrowCommand(argv: string[]): void {
  burrowCommand = argv;
}

export function getBurrowCommand(): string[] {
  return burrowCommand;
}

export const AES = 'aes128-gcm@openssh.com';
export const CHACHA = 'chacha20-poly1305@openssh.com';

export interface Forward {
  listen: number;
  host: string;
  port: number;
}

export interface ForwardPlan {
  local: Forward[];
  remote: Forward[];
  dynamic: number[];
}

/** The listening ports of a {@link loopbackPlan}. */
export interface LoopbackPorts {
  local: number;
  ssf: number;
  remote: number;
  dynamic: number;
}

/**
 * A loopback forwarder's plan, on free ports of its own: `-L` to the target (`port`) and
 * to its server-first port (`ssf`), `-R` back to the target, and a `-D` port.
 */
export async function loopbackPlan(port: number, ssf: number): Promise<{ plan: ForwardPlan; ports: LoopbackPorts }> {
  const ports = { local: await freePort(), ssf: await freePort(), remote: await freePort(), dynamic: await freePort() };
  return {
    plan: {
      local: [
        { listen: ports.local, host: '127.0.0.1', port },
        { listen: ports.ssf, host: '127.0.0.1', port: ssf },
      ],
      remote: [{ listen: ports.remote, host: '127.0.0.1', port }],
      dynamic: [ports.dynamic],
    },
    ports,
  };
}

export interface PeerEnv {
  /** Command prefix that runs a program where the clients run (a namespace or nothing). */
  prefix: string[];
  /** An ssh_config for the bench's sshd with this cipher. */
  config(cipher: string): Promise<string>;
}

export interface Running {
  /** The client process whose CPU time is measured (undefined for raw TCP). */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface Peer {
  id: string;
  family: 'raw' | 'held' | 'openssh' | 'burrow' | 'relay';
  cipher?: string;
  start(env: PeerEnv, plan: ForwardPlan): Promise<Running>;
}

/**
 * ssh's arguments. With `jump`, through `-J` with the bench's sshd as the jump host
 * too: the first hop carries the second's encrypted stream, as a cluster's jump host
 * does (for OpenSSH a child `ssh -W`, for burrow a channel of the same process).
 */
function sshArgs(config: string, plan: ForwardPlan, jump: boolean): string[] {
  const args = ['-N', '-F', config];
  for (const f of plan.local) args.push('-L', `127.0.0.1:${f.listen}:${f.host}:${f.port}`);
  for (const f of plan.remote) args.push('-R', `127.0.0.1:${f.listen}:${f.host}:${f.port}`);
  for (const p of plan.dynamic) args.push('-D', `127.0.0.1:${p}`);
  if (jump) args.push('-J', BENCH_HOST);
  args.push(BENCH_HOST);
  return args;
}

/** Waits until every port is listening where the clients run (`ss`, namespace-aware). */
async function waitListening(env: PeerEnv, ports: number[], daemon: Daemon): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const argv = [...env.prefix, 'ss', '-Hltn'];
    const r = await run(argv[0] as string, argv.slice(1));
    const open = new Set([...r.stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1])));
    if (ports.every((p) => open.has(p))) return;
    if (daemon.child.exitCode !== null) throw new Error(`forwarder exited: ${daemon.stderr().trim()}`);
    if (Date.now() > deadline) throw new Error(`forwards not listening after 20 s: ${daemon.stderr().trim()}`);
    await sleep(50);
  }
}

/**
 * What burrow prints once its SSH connection is up (the ssh2 stand-in: `forwarding`).
 * burrow binds its local listeners before it connects (a taken port is reported before
 * anyone is asked for a password), OpenSSH only once it has authenticated: a forwarder's
 * cases wait for this too, or a "first transfer" would time burrow's handshake.
 */
const BURROW_CONNECTED = /^(\S+: connected|forwarding)$/m;

function forwarder(id: string, family: 'openssh' | 'burrow', cipher: string, command: () => string[], jump = false): Peer {
  return {
    id,
    family,
    cipher,
    async start(env: PeerEnv, plan: ForwardPlan): Promise<Running> {
      const argv = [...env.prefix, ...command(), ...sshArgs(await env.config(cipher), plan, jump)];
      const ready = family === 'burrow' ? BURROW_CONNECTED : undefined;
      const daemon = await startDaemon(argv[0] as string, argv.slice(1), { cwd: resolve('.'), ready, timeoutMs: 20_000 });
      await waitListening(env, [...plan.local.map((f) => f.listen), ...plan.remote.map((f) => f.listen), ...plan.dynamic], daemon);
      return { pid: daemon.pid, stop: () => daemon.stop() };
    },
  };
}

export const RAW: Peer = {
  id: 'raw',
  family: 'raw',
  start: () => Promise.resolve({ pid: undefined, stop: () => Promise.resolve() }),
};

/**
 * Raw TCP as a tunnel in use (`tcpbench hold`): one connection to the target, opened when
 * the peer starts, as a forwarder's SSH connection is, and carrying each of the group's
 * transfers in turn, with the same idle gaps between them; no SSH. Raw TCP opens a new
 * connection per transfer; this is what TCP itself does on a connection that has aged
 * as the tunnels' have, with a sender that fills its socket (README, "Raw TCP on one held
 * connection"). Downloads and uploads only, one at a time, through the group's first `-L`
 * port.
 */
export const heldRaw = (tcpbench: string): Peer => ({
  id: 'raw-held',
  family: 'held',
  async start(env: PeerEnv, plan: ForwardPlan): Promise<Running> {
    const f = plan.local[0];
    if (!f) throw new Error('raw-held: the plan has no -L forward');
    const argv = [...env.prefix, tcpbench, 'hold', f.host, String(f.port), String(f.listen)];
    const daemon = await startDaemon(argv[0] as string, argv.slice(1), { ready: /ready/, timeoutMs: 20_000 });
    await waitListening(env, [f.listen], daemon);
    return { pid: undefined, stop: () => daemon.stop() };
  },
});

export const opensshPeer = (cipher: string, id: string, jump = false): Peer => forwarder(id, 'openssh', cipher, () => ['ssh'], jump);
export const burrowPeer = (cipher: string, id: string, jump = false): Peer => forwarder(id, 'burrow', cipher, () => burrowCommand, jump);

/** A plain Node.js TCP relay serving the -L forwards: Node's I/O floor, no SSH (`node-relay.mjs`). */
export const NODE_RELAY: Peer = {
  id: 'node-relay',
  family: 'relay',
  async start(env: PeerEnv, plan: ForwardPlan): Promise<Running> {
    const argv = [...env.prefix, process.execPath, 'bench/peers/node-relay.mjs', ...plan.local.flatMap((f) => ['-L', `127.0.0.1:${f.listen}:${f.host}:${f.port}`])];
    const daemon = await startDaemon(argv[0] as string, argv.slice(1), { cwd: resolve('.') });
    await waitListening(env, plan.local.map((f) => f.listen), daemon);
    return { pid: daemon.pid, stop: () => daemon.stop() };
  },
};

/**
 * A forwarder named on a diagnostic's command line (`ab.ts`, `hops.ts`): `ssh` (OpenSSH),
 * `relay` (Node's plain relay), `cli` (`bin/burrow.js`), `standin`, or `label=command args`
 * (another burrow build). `peer()` sets the burrow command: start it right away.
 */
export interface NamedPeer {
  label: string;
  relay: boolean;
  peer(cipher: string): Peer;
}

export function namedPeer(arg: string): NamedPeer {
  const eq = arg.indexOf('=');
  const label = eq > 0 ? arg.slice(0, eq) : arg;
  const cmd = eq > 0 ? arg.slice(eq + 1) : arg;
  if (cmd === 'ssh') return { label, relay: false, peer: (cipher) => opensshPeer(cipher, label) };
  if (cmd === 'relay') return { label, relay: true, peer: () => NODE_RELAY };
  const command = cmd === 'cli' ? BURROW_CLI : cmd === 'standin' ? BURROW_STANDIN : cmd.split(' ');
  return {
    label,
    relay: false,
    peer: (cipher) => {
      setBurrowCommand(command);
      return burrowPeer(cipher, label);
    },
  };
}

/** In the order a group runs them (run.ts `runGroup`): each burrow right after its OpenSSH. */
export const PEERS = {
  raw: RAW,
  'openssh-aes': opensshPeer(AES, 'openssh-aes'),
  'burrow-aes': burrowPeer(AES, 'burrow-aes'),
  'openssh-chacha': opensshPeer(CHACHA, 'openssh-chacha'),
  'burrow-chacha': burrowPeer(CHACHA, 'burrow-chacha'),
  'node-relay': NODE_RELAY,
} as const;

/** The same peers (same ids, so the same table columns) forwarding through `-J`. */
export const JUMP_PEERS = {
  raw: RAW,
  'openssh-aes': opensshPeer(AES, 'openssh-aes', true),
  'burrow-aes': burrowPeer(AES, 'burrow-aes', true),
} as const;
