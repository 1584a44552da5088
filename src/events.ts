/**
 * One event type feeds the CLI status view, `--json`, logs and (later) the dashboard.
 */
import { EventEmitter } from 'node:events';

export type SessionState = 'connecting' | 'authenticating' | 'connected' | 'reconnecting' | 'closed';

export interface ErrorInfo {
  code: string;
  message: string;
}

export type TunnelEvent =
  | { type: 'session-state'; destination: string; state: SessionState; error?: ErrorInfo }
  | { type: 'forward-listening'; id: string; kind: ForwardKind; listen: string; target: string; via: string }
  | { type: 'forward-failed'; id: string; kind: ForwardKind; spec: string; error: ErrorInfo }
  | { type: 'forward-closed'; id: string }
  | { type: 'client-open'; id: string; client: number; from: string; to: string }
  | { type: 'client-close'; id: string; client: number; bytesIn: number; bytesOut: number; error?: ErrorInfo }
  | { type: 'warning'; message: string; code?: string }
  | { type: 'info'; message: string };

export type ForwardKind = 'local' | 'remote' | 'dynamic';

/** A typed emitter of {@link TunnelEvent}s. */
export class EventBus {
  readonly #ee = new EventEmitter();

  constructor() {
    this.#ee.setMaxListeners(0);
  }

  emit(ev: TunnelEvent): void {
    this.#ee.emit('event', ev);
  }

  subscribe(fn: (ev: TunnelEvent) => void): () => void {
    this.#ee.on('event', fn);
    return () => this.#ee.off('event', fn);
  }
}
