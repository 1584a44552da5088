/**
 * A tiny line-echo "shell": it says it is the burrow demo server, runs the built-ins
 * and echoes anything else. With a pty it edits lines itself (the client's terminal
 * is raw), without one it reads plain lines.
 */
import type { ServerChannel } from 'ssh2';
import { BUILTINS, runBuiltin, splitWords } from './builtins.js';
import type { ConnContext } from './context.js';

const PROMPT = 'burrow-demo$ ';

export function runShell(ctx: ConnContext, channel: ServerChannel, pty: boolean): void {
  const nl = pty ? '\r\n' : '\n';
  const say = (text: string): void => {
    if (text) channel.write(pty ? text.replace(/\r?\n/g, '\r\n') : text);
  };
  let line = '';
  let done = false;
  const finish = (code: number): void => {
    if (done) return;
    done = true;
    channel.exit(code);
    channel.end();
  };
  const run = (input: string): void => {
    const cmd = input.trim();
    if (cmd === 'exit' || cmd === 'logout') return finish(0);
    if (cmd !== '') {
      const first = splitWords(cmd)[0] ?? '';
      const r = (BUILTINS as readonly string[]).includes(first)
        ? runBuiltin(cmd, { user: ctx.username })
        : { stdout: `${cmd}\n`, stderr: '' };
      say(r.stdout + r.stderr);
    }
    say(PROMPT);
  };

  say(
    `This is the burrow demo server (not a real shell), signed in as ${ctx.username}.${nl}` +
      `Lines you type are echoed back; try help, uname -a, exit.${nl}${PROMPT}`,
  );
  channel.on('data', (chunk: Buffer) => {
    for (const c of chunk.toString('utf8')) {
      if (done) return;
      if (c === (pty ? '\r' : '\n')) {
        if (pty) channel.write('\r\n');
        const input = line;
        line = '';
        run(input);
      } else if (c === '\r' || c === '\n') {
        // the other half of a CRLF
      } else if (pty && (c === '\x7f' || c === '\b')) {
        if (line.length > 0) {
          line = line.slice(0, -1);
          channel.write('\b \b');
        }
      } else if (pty && c === '\x03') {
        line = '';
        say(`^C\n${PROMPT}`);
      } else if (c === '\x04' && line === '') {
        finish(0);
      } else if (c >= ' ' || c === '\t') {
        line += c;
        if (pty) channel.write(c);
      }
    }
  });
  channel.on('end', () => {
    if (!done && line.trim() !== '') run(line);
    finish(0);
  });
}
