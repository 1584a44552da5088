/**
 * A Conn that becomes a socket with its first bytes still queued in its handle (a
 * reader that starts late, small TCP buffers): the channel's data must go after them,
 * never straight to the descriptor ahead of them. Before `writesPending`, half of the
 * transfers below arrived reordered, `-L` downloads and `-R` uploads alike.
 *
 * Runs late-reader.child.ts in a network namespace of its own, whose TCP buffers are
 * small (4–32 KiB): on the host's loopback the kernel takes a link's 64 KiB at once.
 * Needs root (`ip netns`), as the test site does.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ns = `burrow-late-${process.pid}`;
const root = fileURLToPath(new URL('../..', import.meta.url));

after(() => {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // not made
  }
});

test('-L downloads and -R uploads to a reader that starts late, through a Conn that became a socket with writes queued, arrive intact', async () => {
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_wmem=4096 8192 32768', 'net.ipv4.tcp_rmem=4096 8192 32768']);
  const out = await new Promise<string>((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/forward/late-reader.child.ts'], { cwd: root, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`late-reader.child.ts failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { reps: number; remoteBad: number; localBad: number; socketedQueued: number };
  assert.ok(r.socketedQueued > 0, `no Conn became a socket with writes queued (${out.trim()}): the test did not test it`);
  assert.equal(r.remoteBad, 0, `-R uploads that arrived altered: ${r.remoteBad} of ${r.reps}`);
  assert.equal(r.localBad, 0, `-L downloads that arrived altered: ${r.localBad} of ${r.reps}`);
});
