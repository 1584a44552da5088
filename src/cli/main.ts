/**
 * The `burrow` command: parses, calls the library, maps errors to messages and exit
 * codes. Sets `process.exitCode` rather than exiting, so everything closes in order.
 */
import { isBurrowError, toBurrowError } from '../errors.js';
import { parseSshArgs } from './ssh-args.js';
import { HELP } from './help.js';
import { exitCodeFor, EXIT_USAGE } from './exit-codes.js';
import { printNow } from './print.js';

const SUBCOMMANDS = new Set(['demo']);

export async function main(argv: string[]): Promise<void> {
  try {
    process.exitCode = await dispatch(argv);
  } catch (e) {
    const err = toBurrowError(e);
    try {
      printNow(2, `burrow: ${err.message}\n`);
      // Unexpected failures keep their stack for a bug report; expected ones never do.
      if (!isBurrowError(e) && e instanceof Error && e.stack) printNow(2, `${e.stack}\n`);
    } catch {
      // Standard error itself cannot be written: the exit status is all that is left.
    }
    process.exitCode = exitCodeFor(err.code);
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first && SUBCOMMANDS.has(first)) {
    await collectWhenIdle();
    const { runSubcommand } = await import('./subcommands.js');
    return runSubcommand(first, argv.slice(1));
  }
  const args = parseSshArgs(argv);
  if (args.help) {
    printNow(1, HELP);
    return 0;
  }
  if (args.version) {
    const { versionText } = await import('./version.js');
    printNow(1, await versionText(args.verbose));
    return 0;
  }
  if (!args.destination) {
    // As ssh does, a malformed forwarding spec is named before the missing destination.
    if (args.local.length + args.remote.length + args.dynamic.length > 0) {
      const { cliSpecs } = await import('./forward-command.js');
      cliSpecs(args);
    }
    printNow(2, HELP);
    return EXIT_USAGE;
  }
  await collectWhenIdle();
  const { runForwardCommand } = await import('./forward-command.js');
  return runForwardCommand(args);
}

/**
 * For the commands that run: before the modules they load, since V8 schedules its memory
 * reducer at the first full collection, which can come while they load. Not for `--help`,
 * `--version` or a usage error, which end at once: the collector needs `node:v8`, which
 * brings `node:stream`, ~5 ms of such a command's start under `--single-threaded`
 * (bench/HISTORY.md, session 42).
 */
async function collectWhenIdle(): Promise<void> {
  const idle = await import('../runtime/idle-gc.js');
  idle.collectWhenIdle();
}
