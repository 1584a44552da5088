/**
 * `session` channels: `pty-req`, `env`, `window-change` are accepted; `exec` and
 * `shell` start the built-ins or the line-echo shell. Agent and X11 forwarding, SFTP
 * and other subsystems are refused (ssh2 refuses what has no listener).
 */
import type { ExecInfo, ServerChannel, Session } from 'ssh2';
import type { ConnContext } from './context.js';
import { runExec } from './exec.js';
import { runShell } from './shell.js';

export function onSession(ctx: ConnContext, accept: () => Session | undefined): void {
  const session = accept();
  if (!session) return;
  let pty = false;
  session.on('pty', (ok: (() => void) | undefined) => {
    pty = true;
    ok?.();
  });
  session.on('window-change', (ok: (() => void) | undefined) => ok?.());
  session.on('env', (ok: (() => void) | undefined) => ok?.());
  session.on('exec', (ok: () => ServerChannel | undefined, _no: () => void, info: ExecInfo) => {
    const channel = ok();
    if (!channel) return;
    ctx.track(channel);
    runExec(ctx, channel, info.command);
  });
  session.on('shell', (ok: () => ServerChannel | undefined) => {
    const channel = ok();
    if (!channel) return;
    ctx.track(channel);
    runShell(ctx, channel, pty);
  });
}
