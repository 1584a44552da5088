/**
 * `exec` requests: built-ins answered in JavaScript, or (only with `allowExec`) the
 * command run by `/bin/sh -c` with its stdio joined to the channel.
 */
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import type { ServerChannel } from 'ssh2';
import { runBuiltin } from './builtins.js';
import type { ConnContext } from './context.js';

/** How long a command gets after SIGTERM before SIGKILL when its channel closes. */
const KILL_GRACE_MS = 2000;

export function runExec(ctx: ConnContext, channel: ServerChannel, command: string): void {
  if (!ctx.allowExec) {
    // Input is ignored, but must be read: ssh2 reports a server channel closed only after its 'end'.
    channel.resume();
    const r = runBuiltin(command, { user: ctx.username });
    if (r.stdout) channel.write(r.stdout);
    if (r.stderr) channel.stderr.write(r.stderr);
    channel.exit(r.code);
    channel.end();
    return;
  }
  const child = spawn('/bin/sh', ['-c', command], { stdio: 'pipe' });
  ctx.own(child);
  let exited = false;
  const outputs = Promise.all([
    pipeline(child.stdout, channel, { end: false }),
    pipeline(child.stderr, channel.stderr, { end: false }),
  ]).catch(() => undefined);
  // Not pipeline(): when the command exits, stdin errors (EPIPE) and pipeline would
  // destroy the channel before the exit status is sent.
  child.stdin.on('error', () => undefined);
  channel.pipe(child.stdin);
  child.on('error', (err) => {
    channel.stderr.write(`burrow demo server: cannot run /bin/sh: ${err.message}\n`);
  });
  child.once('close', (code, signal) => {
    exited = true;
    // The exit status goes after the output: an empty write calls back once ssh2 has
    // sent everything buffered behind the peer's window.
    void outputs.then(() =>
      channel.write(Buffer.alloc(0), () => {
        if (signal) channel.exit(signal.replace(/^SIG/, ''));
        else channel.exit(code ?? 1);
        channel.end();
      }),
    );
  });
  channel.once('close', () => {
    if (exited) return;
    child.kill('SIGTERM');
    setTimeout(() => exited || child.kill('SIGKILL'), KILL_GRACE_MS).unref();
  });
}
