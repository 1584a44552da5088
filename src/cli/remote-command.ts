/**
 * Without -N: run the command, or an interactive shell with a PTY, like ssh. The
 * terminal goes raw while the shell runs and is restored on every exit path.
 */
import type { ClientChannel, PseudoTtyOptions } from 'ssh2';
import type { Session } from '../ssh/session.js';

export interface RemoteCommandOptions {
  command: string[];
  forceTty: number;
  noTty: boolean;
  /** Ends the session early (Ctrl-C without a PTY, kill, a closed terminal): the channel is closed, as ssh's exit closes it. */
  signal?: AbortSignal;
}

function ptyOptions(): PseudoTtyOptions {
  return {
    term: process.env.TERM ?? 'xterm-256color',
    cols: process.stdout.columns ?? 80,
    rows: process.stdout.rows ?? 24,
  };
}

/** Runs the command or shell; resolves with its exit status (undefined when the server sent none: the connection broke, or `signal` ended it). */
export async function runRemote(session: Session, opts: RemoteCommandOptions): Promise<number | undefined> {
  const interactive = opts.command.length === 0;
  const stdinTty = Boolean(process.stdin.isTTY);
  const wantPty = !opts.noTty && (opts.forceTty > 1 || (stdinTty && (interactive || opts.forceTty > 0)));
  const pty = wantPty ? ptyOptions() : false;
  const channel: ClientChannel = interactive ? await session.shell(pty) : await session.exec(opts.command.join(' '), { pty });

  const rawMode = wantPty && stdinTty;
  if (rawMode) process.stdin.setRawMode(true);
  const onResize = () => channel.setWindow(process.stdout.rows ?? 24, process.stdout.columns ?? 80, 0, 0);
  if (wantPty) process.stdout.on('resize', onResize);

  process.stdin.pipe(channel);
  channel.pipe(process.stdout, { end: false });
  channel.stderr.pipe(process.stderr, { end: false });

  let status: number | undefined;
  channel.on('exit', (code: number | null, signal?: string) => {
    status = code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : undefined);
  });
  let interrupted = false;
  await new Promise<void>((resolve) => {
    // sshd answers a CLOSE only once the command has exited: an interrupt does not wait for it.
    const stop = () => {
      interrupted = true;
      channel.close();
      resolve();
    };
    channel.once('close', () => {
      opts.signal?.removeEventListener('abort', stop);
      resolve();
    });
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop, { once: true });
  });
  process.stdin.unpipe(channel);
  process.stdin.pause();
  if (rawMode) process.stdin.setRawMode(false);
  process.stdout.off('resize', onResize);
  return interrupted ? undefined : status;
}

function signalNumber(name: string): number | undefined {
  const table: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15, PIPE: 13 };
  return table[name.replace(/^SIG/, '')];
}
