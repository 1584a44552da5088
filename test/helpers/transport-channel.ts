/**
 * An ssh2 Channel as far as the transport turns go (src/ssh/transport-turns.ts): its
 * `_client._sock` is the SSH connection's transport, and its writes wait while that holds
 * more than `TRANSPORT_HIGH_WATER` unsent, going on at its drain (the ssh2 patch's
 * `[transport backpressure]`). What is written is hashed in order, here or by `take`.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { TRANSPORT_HIGH_WATER, takeTransportTurn, whenTransportRoom, type Turn } from '../../src/ssh/transport-turns.js';

export type FakeTransport = EventEmitter & { writableLength: number };

/** A transport holding `unsent` bytes, with room for any number of channels' listeners. */
export function fakeTransport(unsent: number): FakeTransport {
  const t = Object.assign(new EventEmitter(), { writableLength: unsent });
  t.setMaxListeners(0);
  return t;
}

export class TransportChannel extends Duplex {
  readonly hash = createHash('sha256');
  length = 0;
  #waiting: (() => void)[] = [];
  readonly #take: ((c: Buffer) => void) | undefined;
  constructor(
    readonly _client: { _sock: FakeTransport },
    take?: (c: Buffer) => void,
  ) {
    super({ writableHighWaterMark: 256 * 1024, allowHalfOpen: true });
    this.#take = take;
    _client._sock.on('drain', () => {
      for (const cb of this.#waiting.splice(0)) cb();
    });
  }
  override _read(): void {}
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
    if (this.#take) this.#take(c);
    else {
      this.hash.update(c);
      this.length += c.length;
    }
    if (this._client._sock.writableLength > TRANSPORT_HIGH_WATER) this.#waiting.push(cb);
    else cb();
  }
}

/**
 * What a Link does for an upload, over a fake SSH transport: `send` refuses while the
 * transport holds more than `TRANSPORT_HIGH_WATER` unsent (as Link's), and the Channel it
 * upgrades to holds its writes until the transport drains. Whatever reaches either is
 * hashed in order. Cast to `Link` for `joinConn` and `joinLink`.
 */
export class TransportLink {
  readonly incoming = { state: 'open' };
  readonly hash = createHash('sha256');
  length = 0;
  readonly #client: { _sock: FakeTransport };
  constructor(sock: FakeTransport) {
    this.#client = { _sock: sock };
  }
  attach(): void {}
  send(data: Buffer): boolean {
    if (this.#client._sock.writableLength > TRANSPORT_HIGH_WATER) return false;
    this.take(data);
    return true;
  }
  take(data: Buffer): void {
    this.hash.update(data);
    this.length += data.length;
  }
  eof(): void {}
  close(): void {}
  upgrade(): Duplex {
    return new TransportChannel(this.#client, (c) => this.take(c));
  }
  #turn: Turn | undefined;
  whenRoom(go: () => void): void {
    whenTransportRoom(this.#client, (turn) => {
      this.#turn = turn;
      go();
    });
  }
  takeTurn(): boolean {
    const turn = takeTransportTurn(this.#client);
    if (turn) this.#turn = turn;
    return turn !== false;
  }
  turnDone(): void {
    this.#turn?.done();
    this.#turn = undefined;
  }
}
