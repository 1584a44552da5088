/**
 * What every forward does the same way: ids, the start/close/destroy life cycle,
 * `forward-*` events and the label. Subclasses only listen and handle connections.
 */
import { BurrowError, abortError, toBurrowError } from '../errors.js';
import type { ForwardSpec } from '../config/forward-spec.js';
import type { ForwardKind } from '../events.js';
import type { ChannelOpener } from '../ssh/channels.js';
import { Clients } from './clients.js';
import type { Forward, ForwardAddress, ForwardOptions, ForwardStats } from './types.js';

let seq = 0;
const PREFIX: Record<ForwardKind, string> = { local: 'L', remote: 'R', dynamic: 'D' };

export abstract class ForwardBase implements Forward {
  readonly id: string;
  readonly kind: ForwardKind;
  readonly spec: ForwardSpec;
  protected readonly opener: ChannelOpener;
  protected readonly opts: ForwardOptions;
  protected readonly clients: Clients;
  #state: 'new' | 'starting' | 'listening' | 'closed' = 'new';
  #closing: Promise<void> | undefined;
  #closedEmitted = false;

  constructor(spec: ForwardSpec, opener: ChannelOpener, opts: ForwardOptions = {}) {
    this.spec = spec;
    this.kind = spec.kind;
    this.opener = opener;
    this.opts = opts;
    this.id = opts.id ?? `${PREFIX[spec.kind]}${++seq}`;
    this.clients = new Clients(this.id, opts.bus, { maxBusyChannels: opts.maxBusyChannels });
  }

  get stats(): Readonly<ForwardStats> {
    return this.clients.stats;
  }

  /**
   * True from the start until close/destroy: connections are taken while the forward
   * is still starting. A listener hands them over as soon as it is bound (the other
   * loopback family may still be binding), and a server that listens for us may send
   * its first connections in the same read as its reply (sshd does, under load), before
   * the start's promise settles; OpenSSH takes those too. A start that fails cuts them.
   */
  protected get accepting(): boolean {
    return this.#state === 'starting' || this.#state === 'listening';
  }

  /** Where it listens, as a user reads it (`127.0.0.1:5555`). */
  protected abstract listenLabel(): string;
  /** Where connections go (`localhost:6666`, `SOCKS`). */
  protected abstract targetLabel(): string;
  protected abstract listen(signal: AbortSignal | undefined): Promise<void>;
  protected abstract unlisten(): Promise<void>;
  abstract address(): ForwardAddress | undefined;

  get label(): string {
    const via = this.opener.destination;
    return this.kind === 'remote'
      ? `${this.listenLabel()} on ${via} → ${this.targetLabel()}`
      : `${this.listenLabel()} → ${this.targetLabel()} via ${via}`;
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state !== 'new') {
      throw new BurrowError('USAGE', `forward ${this.id} was already started; create a new one`, { phase: 'forward' });
    }
    this.#state = 'starting';
    try {
      if (opts.signal?.aborted) throw abortError(opts.signal, 'forward start');
      await this.listen(opts.signal);
      if (opts.signal?.aborted) {
        await this.unlisten();
        throw abortError(opts.signal, 'forward start');
      }
    } catch (e) {
      this.#state = 'closed';
      this.clients.destroyAll();
      const err = toBurrowError(e, 'BIND_FAILED', 'forward');
      if (this.opts.reportFailure !== false) this.opts.bus?.emit({ type: 'forward-failed', id: this.id, kind: this.kind, spec: this.spec.text, error: { code: err.code, message: err.message } });
      throw err;
    }
    if (this.#state !== 'starting') {
      // destroy() ran while we were binding: do not leave a listener behind.
      await this.unlisten();
      throw new BurrowError('ABORTED', `forward ${this.id} was destroyed while starting`, { phase: 'forward' });
    }
    this.#state = 'listening';
    this.opts.bus?.emit({
      type: 'forward-listening',
      id: this.id,
      kind: this.kind,
      listen: this.listenLabel(),
      target: this.targetLabel(),
      via: this.opener.destination,
    });
  }

  idle(): Promise<void> {
    return this.clients.idle();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closed';
      await this.unlisten();
      await this.clients.idle();
      this.#emitClosed();
    })();
    return this.#closing;
  }

  destroy(): void {
    this.#state = 'closed';
    this.clients.destroyAll();
    void this.unlisten().then(() => this.#emitClosed());
  }

  #emitClosed(): void {
    if (this.#closedEmitted) return;
    this.#closedEmitted = true;
    this.opts.bus?.emit({ type: 'forward-closed', id: this.id });
  }
}
