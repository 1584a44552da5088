/**
 * BBR's ProbeRTT on a sender's socket, seen from outside. BBR keeps the lowest RTT it
 * saw for 10 s; when that expires with data flowing it holds the socket at 4 segments
 * for 200 ms and a round trip to measure it again. A tunnel's SSH connection is older
 * than that by its second transfer, raw TCP's per-transfer connection never is, and on
 * a 50 ms path the 200 ms cost a 128 MiB download ~9 % (bench/HISTORY.md, session 53).
 * The latency groups record, per transfer, whether the sender's socket went through it.
 */
import { startDaemon } from './proc.js';

/** `ss -i` of a BBR socket in ProbeRTT: both gains 1 (STARTUP and DRAIN have 2.89, PROBE_BW a cwnd gain of 2). */
const PROBE_RTT = /cwnd_gain:1\)/;

export interface ProbeRttWatch {
  /** Stops watching: true if a socket with data in flight was in ProbeRTT meanwhile. */
  stop(): Promise<boolean>;
}

/**
 * Samples every 100 ms (ProbeRTT lasts 200 ms and more) the established sockets with
 * source port `sport` in the namespace `prefix` runs in. Only sockets with data in
 * flight count: the peers that sit idle keep whatever mode their last transfer left.
 */
export async function watchProbeRtt(prefix: string[], sport: number): Promise<ProbeRttWatch> {
  const script = `while :; do ss -tinH state established '( sport = :${sport} )'; sleep 0.1; done`;
  const d = await startDaemon(prefix[0] as string, [...prefix.slice(1), 'sh', '-c', script]);
  let seen = false;
  let rest = '';
  d.child.stdout?.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (PROBE_RTT.test(l) && l.includes('unacked:')) seen = true;
  });
  return {
    async stop(): Promise<boolean> {
      await d.stop();
      return seen;
    },
  };
}
