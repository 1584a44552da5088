/**
 * Raw TCP through the delay line alone (no SSH): checks that the line is not the limit.
 *   node --import tsx bench/rawrtt.ts [RTT_MS] [MiB] [default|tuned] [get|put]...
 */
import { createDelayedPair, hostBuffers, SERVER_ADDR, TUNED_BUFFERS } from './lib/netns.js';
import { cleanupAll, installSignalHandlers, run, startDaemon } from './lib/proc.js';
import { buildTools } from './lib/tools.js';

const MiB = 1024 * 1024;
async function main(): Promise<void> {
  installSignalHandlers();
  const [rtt = '50', mib = '256', buf = 'tuned', ...dirs] = process.argv.slice(2);
  const tools = await buildTools();
  const pair = await createDelayedPair(tools.delayline, Number(rtt));
  try {
    await pair.setBuffers(buf === 'tuned' ? TUNED_BUFFERS : await hostBuffers());
    const server = await startDaemon(pair.inServer[0] as string, [...pair.inServer.slice(1), tools.tcpbench, 'server', SERVER_ADDR, '27001', '27002'], { ready: /ready/, timeoutMs: 60_000 });
    try {
      for (const d of dirs.length ? dirs : ['get', 'put']) {
        const argv = [...pair.inClient, tools.tcpbench, d, SERVER_ADDR, '27001', String(Number(mib) * MiB)];
        const nst = async (p: string[]): Promise<string> => (await run(p[0] as string, [...p.slice(1), 'nstat', '-az', 'TcpRetransSegs', 'TcpExtTCPLostRetransmit', 'TcpOutSegs'])).stdout.replace(/#.*\n/, '').replace(/\s+/g, ' ');
        const before = [await nst(pair.inServer), await nst(pair.inClient)];
        const rp = run(argv[0] as string, argv.slice(1));
        const sender = d === 'get' ? pair.inServer : pair.inClient;
        for (let i = 0; i < (Number(process.env.SAMPLES ?? 0)); i++) {
          await new Promise((r) => setTimeout(r, 300));
          const ss = await run(sender[0] as string, [...sender.slice(1), 'ss', '-tin', 'state', 'established']);
          console.log(ss.stdout.split('\n').filter((l) => /cwnd/.test(l)).map((l) => l.trim()).join('\n'));
        }
        const r = await rp;
        for (const [n, p] of [['server', pair.inServer], ['client', pair.inClient]] as const) {
          const o = (await run(p[0] as string, [...p.slice(1), 'nstat', '-as'])).stdout;
          console.log(n, o.split('\n').filter((l) => /^(Tcp|Ip)/.test(l) && !/Octets|InReceives|InDelivers|OutRequests|InSegs|OutSegs|Pkts/.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 2).join('=')).join(' '));
        }
        console.log(await pair.lineStats());
        if (process.env.NO) console.log('nstat server before/after', before[0], '->', await nst(pair.inServer), ' client', before[1], '->', await nst(pair.inClient));
        const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { bytes: number; secs: number; ok: boolean };
        console.log(`${rtt} ms ${buf} ${d} ${mib} MiB: ${(j.bytes / MiB / j.secs).toFixed(1)} MiB/s ok=${j.ok} ${r.stderr.trim()}`);
      }
    } finally {
      await server.stop();
    }
  } finally {
    await pair.stop();
    await cleanupAll();
  }
}
void main();
