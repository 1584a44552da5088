/**
 * Subcommands other than the ssh-compatible default (`burrow demo` for now).
 */
import { Command, InvalidArgumentError } from 'commander';
import { BurrowError } from '../errors.js';
import { EventBus } from '../events.js';
import { runDemo } from '../demo/index.js';
import { SessionPool } from '../ssh/pool.js';
import { TunnelSet } from '../agent/tunnel-set.js';
import { parseForwardSpec } from '../config/forward-spec.js';
import type { ResolvedHost } from '../config/types.js';
import type { OpenTunnelArgs } from '../demo/run.js';
import { attachView } from './status-view.js';

function portArg(v: string): number {
  const n = Number(v === 'auto' ? 0 : v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0-65535 (0 or auto picks a free one)');
  return n;
}

/** The settings of the demo server, as if resolved from an ssh_config. */
function demoHost(a: OpenTunnelArgs): ResolvedHost {
  return {
    alias: 'demo', hostname: a.sshHost, user: a.user, port: a.sshPort,
    identityFiles: [], identityFilesExplicit: true, identitiesOnly: true,
    localForwards: [], remoteForwards: [], dynamicForwards: [],
    exitOnForwardFailure: true, serverAliveInterval: 0, serverAliveCountMax: 3,
    strictHostKeyChecking: 'yes', userKnownHostsFiles: [a.knownHostsFile], globalKnownHostsFiles: [],
    gatewayPorts: false, addressFamily: 'any', batchMode: true, unsupported: [],
  };
}

async function demoCommand(argv: string[]): Promise<number> {
  const cmd = new Command('burrow demo')
    .description('start an embedded SSH server and a web page on loopback, and open a real -L tunnel through burrow to it')
    .option('--once', 'fetch one page through the tunnel, then stop')
    .option('--port <port>', 'local port of the tunnel (0 or auto: a free one)', portArg, 0)
    .option('--json', 'one JSON event per line on stdout')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.help') return 0;
    throw new BurrowError('USAGE', (e as Error).message.replace(/^error: /, ''), { phase: 'cli' });
  }
  const opts = cmd.opts<{ once?: boolean; port: number; json?: boolean }>();
  const bus = new EventBus();
  const view = attachView(bus, { json: Boolean(opts.json), quiet: false, verbose: 0 });
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await runDemo({
      once: Boolean(opts.once),
      out: (line) => (opts.json ? bus.emit({ type: 'info', message: line }) : process.stdout.write(`${line}\n`)),
      signal: ac.signal,
      localPort: opts.port,
      openTunnel: async (a) => {
        const spec = parseForwardSpec('local', `${a.localPort}:${a.target.host}:${a.target.port}`);
        const noJumps = async (): Promise<never> => {
          throw new BurrowError('CONFIG', 'the demo has no jump hosts', { phase: 'config' });
        };
        const pool = new SessionPool({ resolve: noJumps, bus, password: a.password });
        const set = await TunnelSet.open({ pool, config: demoHost(a), specs: [spec], bus });
        const addr = set.forwards[0]?.address();
        return { localPort: addr?.type === 'tcp' ? addr.port : a.localPort, close: () => set.close(1000) };
      },
    });
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    view.detach();
  }
}

export async function runSubcommand(name: string, argv: string[]): Promise<number> {
  switch (name) {
    case 'demo':
      return demoCommand(argv);
    default:
      throw new BurrowError('USAGE', `unknown command ${name}`, { phase: 'cli' });
  }
}
