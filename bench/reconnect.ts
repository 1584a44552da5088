/**
 * How fast a tunnel comes back (issue: tunnels that survive). burrow -N -L through a
 * real sshd on loopback; for each outage, the time from the server being reachable
 * again to the first connection through the same local port that carries bytes intact.
 *
 *   node --import tsx bench/reconnect.ts [--reps N]
 *
 * Cases: the session's sshd process killed (server up all along), and sshd down for
 * 2 s then started again. Prompts per outage are 0 here (key auth); the namespace site
 * tests measure the 2FA case.
 */
import net from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { startSshd } from '../test/helpers/sshd.js';
import { echoServer, roundTrip, sha256, randomBytes } from '../test/helpers/net.js';
import { runBurrow } from '../test/helpers/cli.js';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function throughTunnel(port: number, payload: Buffer): Promise<void> {
  for (;;) {
    try {
      const back = await roundTrip(net.connect(port, '127.0.0.1'), payload);
      if (sha256(back) === sha256(payload)) return;
      // Closed with nothing sent back: refused while reconnecting. Anything else is corruption.
      if (back.length > 0) throw new Error('corrupted bytes through the tunnel');
    } catch (e) {
      if ((e as Error).message.startsWith('corrupted')) throw e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One outage on a fresh burrow (the first outage of a stable connection, as users meet it). */
async function outage(kind: 'session killed' | 'sshd down 2 s, restarted'): Promise<number> {
  const sshd = await startSshd();
  const echo = await echoServer();
  const r = runBurrow(['-F', sshd.sshConfigFile, '-N', '-L', `0:127.0.0.1:${echo.port}`, 'test-sshd']);
  try {
    const line = await r.waitFor(/127\.0\.0\.1:\d+ → /);
    const port = Number(/:(\d+) → /.exec(line)?.[1]);
    await r.waitFor('test-sshd: connected');
    const payload = randomBytes(64 << 10);
    await throughTunnel(port, payload);
    let t0: number;
    if (kind === 'session killed') {
      t0 = performance.now();
      sshd.killConnections();
    } else {
      await sshd.pause();
      await new Promise((res) => setTimeout(res, 2000));
      await sshd.restart();
      t0 = performance.now();
    }
    await throughTunnel(port, payload);
    return performance.now() - t0;
  } finally {
    r.child.kill('SIGINT');
    await r.exited;
    await sshd.stop();
    await echo.close();
  }
}

async function main(): Promise<void> {
  const results: Record<string, number[]> = { 'session killed': [], 'sshd down 2 s, restarted': [] };
  for (let i = 0; i < reps; i++) {
    for (const kind of ['session killed', 'sshd down 2 s, restarted'] as const) results[kind]?.push(await outage(kind));
  }
  const rows = Object.entries(results).map(([name, xs]) => ({ case: name, median_ms: Math.round(median(xs)), max_ms: Math.round(Math.max(...xs)), samples: xs.map(Math.round) }));
  console.log('\nreconnect: time from server reachable to first intact connection through the same local port');
  for (const row of rows) console.log(`  ${row.case.padEnd(28)} median ${String(row.median_ms).padStart(5)} ms   max ${String(row.max_ms).padStart(5)} ms   prompts 0`);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/reconnect-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify({ reps, rows }, null, 2));
  console.log(`  written to ${file.pathname}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
