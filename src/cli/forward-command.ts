/**
 * `burrow [flags] destination [command]`: resolve the config, bind the forwards,
 * connect once, then forward (-N) or run the command/shell. Thin: the work is in
 * config/, ssh/, forward/ and agent/.
 */
import { BurrowError, isBurrowError, toBurrowError } from '../errors.js';
import type { Prompter } from '../prompt.js';
import { EventBus } from '../events.js';
import { resolveHost } from '../config/ssh-config/index.js';
import { parseForwardSpec, type ForwardKind, type ForwardSpec } from '../config/forward-spec.js';
import type { ResolvedHost } from '../config/types.js';
import { SessionPool } from '../ssh/pool.js';
import { carryHop } from '../forward/hop-carrier.js';
import { cryptoStatus } from '../ssh/crypto-status.js';
import { TunnelSet } from '../agent/tunnel-set.js';
import type { SshArgs } from './ssh-args.js';
import { openTtyPrompter } from './tty-prompter.js';
import { attachView, promptsOver } from './status-view.js';
import { runRemote } from './remote-command.js';
import { EXIT_INTERRUPTED, EXIT_OK } from './exit-codes.js';

/** The -L, -R and -D of the command line, parsed (a malformed one throws USAGE). */
export function cliSpecs(args: SshArgs): ForwardSpec[] {
  const fromCli = (kind: ForwardKind, list: string[]) => list.map((t) => parseForwardSpec(kind, t));
  return [...fromCli('local', args.local), ...fromCli('remote', args.remote), ...fromCli('dynamic', args.dynamic)];
}

function collectSpecs(args: SshArgs, cfg: ResolvedHost): ForwardSpec[] {
  const fromConfig = (kind: ForwardKind, list: string[]) => list.map((t) => parseForwardSpec(kind, t, { fromConfig: true }));
  return [
    ...cliSpecs(args),
    ...fromConfig('local', cfg.localForwards),
    ...fromConfig('remote', cfg.remoteForwards),
    ...fromConfig('dynamic', cfg.dynamicForwards),
  ];
}

/**
 * A question cancelled at the terminal (Ctrl-C or Ctrl-D: the prompt reads the keys
 * itself, so no SIGINT comes) is the person interrupting burrow, as at any other moment.
 */
function interruptsOn(prompter: Prompter, interrupt: AbortController): Prompter {
  return {
    info: (message) => prompter.info(message),
    ask: (message, opts) =>
      prompter.ask(message, opts).catch((e: unknown) => {
        if (isBurrowError(e, 'ABORTED') && !interrupt.signal.aborted) interrupt.abort(e);
        throw e;
      }),
  };
}

/**
 * The command has exited: as ssh, the forwards stay (and accept) until the connections
 * they carry have closed, so a viewer started after `burrow -L 5901:localhost:5901 host
 * sleep 10` keeps its tunnel. Ctrl-C stops waiting (open transfers get the usual grace);
 * a lost connection ends it.
 */
async function afterCommand(set: TunnelSet, interrupt: AbortSignal, interrupted: Promise<unknown>, quiet: boolean): Promise<void> {
  const open = set.totals().active;
  if (open > 0 && !interrupt.aborted) {
    if (!quiet && process.stderr.isTTY) process.stderr.write(`waiting for ${open} forwarded connection(s) to close (Ctrl-C to stop)\n`);
    await Promise.race([set.drained(), set.ended, interrupted]);
  }
  await set.close(interrupt.aborted ? undefined : 0);
}

export async function runForwardCommand(args: SshArgs): Promise<number> {
  if (!args.destination) throw new BurrowError('USAGE', "no destination given; e.g. 'burrow -N -L 5555:localhost:6666 mahuika'\nrun 'burrow --help' for usage", { phase: 'cli' });
  const resolveOpts = { configFile: args.configFile, options: args.options, identityFiles: args.identityFiles };
  const config = await resolveHost(args.destination, resolveOpts);
  const specs = collectSpecs(args, config);
  const debug = (level: number, msg: string) => {
    if (args.verbose >= level && !args.json) process.stderr.write(`debug${level}: ${msg}\n`);
  };
  for (const key of config.unsupported) debug(1, `ignoring ${key}: not supported by burrow`);

  const bus = new EventBus();
  const forwardOnly = args.noCommand;
  let set: TunnelSet | undefined;
  const view = attachView(bus, {
    json: args.json,
    quiet: args.quiet || (!forwardOnly && !args.verbose),
    warnings: !args.quiet,
    verbose: args.verbose,
    totals: forwardOnly ? () => set?.totals() ?? { active: 0, total: 0, bytesIn: 0, bytesOut: 0 } : undefined,
  });
  const interrupt = new AbortController();
  const interrupted = new Promise<'interrupted'>((r) => interrupt.signal.addEventListener('abort', () => r('interrupted'), { once: true }));
  const tty = config.batchMode ? undefined : openTtyPrompter();
  const prompter = tty && promptsOver(view, interruptsOn(tty, interrupt));
  const pool = new SessionPool({
    resolve: (dest, over) => resolveHost(over.user ? `${over.user}@${dest}` : dest, { ...resolveOpts, options: over.port ? [`Port=${over.port}`] : [] }),
    prompter,
    bus,
    proxyStderr: args.quiet ? 'ignore' : 'inherit',
    log: (m) => debug(1, m),
    carryHop,
  });

  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      if (!args.quiet && !args.json) process.stderr.write('\nclosing (Ctrl-C again to cut)\n');
      interrupt.abort(new BurrowError('ABORTED', 'interrupted', { phase: 'cli' }));
    } else {
      set?.destroy();
      pool.destroyAll();
      process.exit(EXIT_INTERRUPTED);
    }
  };
  // Ctrl-C, kill and a closed terminal all close gracefully (a second one cuts).
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSigint);
  const crypto = cryptoStatus();
  if (!crypto.nativeBinding) bus.emit({ type: 'warning', code: 'SLOW_CRYPTO', message: "ssh2's native crypto binding is missing: transfers will be several times slower (install g++ and python3, then npm ci)" });
  if (!crypto.windowPatch) bus.emit({ type: 'warning', code: 'NO_WINDOW_PATCH', message: "burrow's ssh2 window patch is not applied: slow on high-latency links (run npm ci)" });
  try {
    set = await TunnelSet.open({ pool, config, specs, bus, signal: interrupt.signal, reconnect: forwardOnly });
    if (forwardOnly) {
      if (set.forwards.length === 0 && !args.quiet && !args.json) process.stderr.write(`connected to ${config.alias}; no forwards (Ctrl-C to stop)\n`);
      const outcome = await Promise.race([set.ended, interrupted]);
      if (outcome === 'interrupted') {
        await set.close();
        return EXIT_OK;
      }
      if (outcome) throw outcome;
      return EXIT_OK;
    }
    const status = await runRemote(set.session, { command: args.command, forceTty: args.forceTty, noTty: args.noTty, signal: interrupt.signal });
    if (status === undefined && interrupt.signal.aborted) {
      // Interrupted while it ran (ssh exits at once too; the command, without a PTY, may
      // go on on the server, as with ssh).
      await set.close();
      return EXIT_INTERRUPTED;
    }
    if (status === undefined) {
      // No exit status: the connection went away under the command. Say why, as ssh does.
      const ended = set.ended;
      const lost = await Promise.race([ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
      throw lost ?? new BurrowError('DISCONNECTED', `the command on ${config.alias} ended without an exit status`, { phase: 'session' });
    }
    await afterCommand(set, interrupt.signal, interrupted, args.quiet || args.json);
    return status;
  } catch (e) {
    const err = toBurrowError(e);
    if (err.code === 'ABORTED' && interrupt.signal.aborted) return EXIT_INTERRUPTED;
    throw err;
  } finally {
    set?.destroy();
    view.detach();
    for (const sig of signals) process.off(sig, onSigint);
    pool.destroyAll();
  }
}
