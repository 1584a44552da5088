/**
 * The sink's contract with ssh2 (sink.ts): what it took and the kernel has not, it holds
 * (`held`, not re-credited to the server), and it reports each delivery. A model channel
 * stands in for ssh2's; the socket is a real loopback TCP pair whose reader stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { attachSink, spareCount, type ChannelSink, type SinkChannel } from './sink.js';

/** What ssh2's patched Channel offers a sink: `setSink`, `sinkDelivered`, `sinkReceived`, an empty readable side. */
class ModelChannel extends Duplex implements SinkChannel {
  sink: ChannelSink | undefined;
  delivered = 0;
  setSink(sink: ChannelSink | undefined): void {
    this.sink = sink;
  }
  sinkDelivered(): void {
    this.delivered++;
  }
  sinkReceived(): void {}
  override _read(): void {}
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
}

async function socketPair(): Promise<{ writer: net.Socket; reader: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const writer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => writer.once('connect', r));
  const reader = await accepted;
  reader.pause();
  return {
    writer,
    reader,
    close: () => {
      writer.destroy();
      reader.destroy();
      server.close();
    },
  };
}

/** Loop turns until `done()` (at most 10 000: a hang becomes a failed assertion, not a stuck test). */
async function turnsUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) await new Promise((r) => setImmediate(r));
}

/**
 * Offers 32 MiB (more than loopback's kernel buffers hold) to a sink on a socket whose
 * reader has stopped: 128 "reads" of eight 32 KiB packets, each offered as views of one
 * reused buffer, as ssh2 does with its read arena. Returns the data, and a function that
 * lets the reader take everything and resolves with the sha256 of what arrived, once the
 * sink holds nothing (the last write's callback may run a loop turn after the reader
 * has the bytes).
 */
async function fillStopped(sink: ChannelSink, reader: net.Socket): Promise<{ data: Buffer; drain(): Promise<string> }> {
  const reads = 128;
  const data = randomBytes(reads * 8 * 32 * 1024);
  const arena = Buffer.alloc(8 * 32 * 1024);
  for (let r = 0; r < reads; r++) {
    data.copy(arena, 0, r * arena.length, (r + 1) * arena.length);
    for (let p = 0; p < 8; p++) assert.equal(sink.take(arena.subarray(p * 32 * 1024, (p + 1) * 32 * 1024)), true);
    sink.flush();
    arena.fill(0); // the views are dead after flush: the sink must have copied what it kept
  }
  await new Promise((r) => setImmediate(r)); // write callbacks of writes that completed at once
  const drain = (): Promise<string> =>
    new Promise((resolve) => {
      const hash = createHash('sha256');
      let got = 0;
      reader.on('data', (c: Buffer) => {
        hash.update(c);
        got += c.length;
        if (got === data.length) void turnsUntil(() => sink.held === 0).then(() => resolve(hash.digest('hex')));
      });
      reader.resume();
    });
  return { data, drain };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// First: the spare buffers' trim timer is made by the first spill of the process.
test('spill buffers are reused, and let go once no sink has spilled for a while', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { writer, reader, close } = await socketPair();
  t.after(close);
  const channel = new ModelChannel();
  assert.ok(attachSink(writer, channel, () => {}), 'the native sendv addon is built (npm ci builds it)');
  const { data, drain } = await fillStopped(channel.sink as ChannelSink, reader);
  assert.equal(await drain(), sha256(data));
  const kept = spareCount();
  assert.ok(kept > 0, 'written spill buffers are kept');
  t.mock.timers.tick(10_000); // a sink spilled since the last look: kept
  assert.equal(spareCount(), kept);
  t.mock.timers.tick(10_000); // none since: let go
  assert.equal(spareCount(), 0);
});

test('a sink holds what the kernel did not take until it is written, then reports it', async (t) => {
  const { writer, reader, close } = await socketPair();
  t.after(close);
  const channel = new ModelChannel();
  let counted = 0;
  const detach = attachSink(writer, channel, (n) => (counted += n));
  assert.ok(detach, 'the native sendv addon is built (npm ci builds it)');
  const sink = channel.sink as ChannelSink;
  const { data, drain } = await fillStopped(sink, reader);
  assert.equal(counted, data.length);
  // The rest waits in Node, held.
  assert.ok(sink.held > 0, 'bytes the stopped reader did not take are held');
  assert.equal(sink.held, writer.writableLength, 'held is exactly what Node still has to write');

  // The reader takes everything: the sink reports the deliveries and holds nothing.
  const reported = channel.delivered;
  assert.equal(await drain(), sha256(data), 'bytes intact and in order');
  assert.equal(sink.held, 0);
  assert.ok(channel.delivered > reported, 'the writes that emptied Node reported their delivery');
  detach?.();
  assert.equal(channel.sink, undefined);
});

test('a sink refuses data while older data waits in the channel, and takes the rest of a read once it took one packet', async (t) => {
  const { writer, close } = await socketPair();
  t.after(close);
  const channel = new ModelChannel();
  attachSink(writer, channel, () => {});
  const sink = channel.sink as ChannelSink;
  channel.push(Buffer.from('older')); // took the stream path: it must go first
  assert.equal(sink.take(Buffer.from('newer')), false);
  channel.read();
  assert.equal(sink.take(Buffer.from('a')), true);
  channel.push(Buffer.from('late'));
  assert.equal(sink.take(Buffer.from('b')), true, 'the queued packet of this read must not be overtaken');
  sink.flush();
  assert.equal(sink.held, 0, 'an idle socket takes two bytes at once');
});

/** The patched window bookkeeping (patches/README.md, "channel sinks"). */
const ssh2Channel = createRequire(import.meta.url)('ssh2/lib/Channel.js') as {
  onChannelSunk(channel: object, len: number): void;
  windowRelease(channel: object): void;
};

test("ssh2 re-credits a sink's bytes to the server only once the sink delivered them", () => {
  const MiB = 1024 * 1024;
  const adjusts: number[] = [];
  const sink = { held: 0 };
  const channel: Record<string, unknown> = {
    incoming: { window: 3 * MiB },
    outgoing: { state: 'open', id: 7 },
    readableLength: 0,
    _sink: sink,
    _client: { _protocol: { channelWindowAdjust: (_id: number, n: number) => adjusts.push(n) } },
  };
  channel.stderr = channel;
  const credited = (): number => adjusts.reduce((a, b) => a + b, 0);

  // 2 MiB arrive; the sink took them, and the kernel had room for half a MiB.
  ssh2Channel.onChannelSunk(channel, 2 * MiB);
  sink.held = 1.5 * MiB;
  ssh2Channel.windowRelease(channel);
  assert.equal(credited(), 0.5 * MiB);
  // The rest is written: all of it is credited, once.
  sink.held = 0;
  ssh2Channel.windowRelease(channel);
  ssh2Channel.windowRelease(channel);
  assert.equal(credited(), 2 * MiB);
});
