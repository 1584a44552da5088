/**
 * The shape every forward shares: `start()`, `close()` (stop listening, let open
 * connections drain), `destroy()` (cut everything), `address()` and live `stats`.
 */
import type { ForwardSpec } from '../config/forward-spec.js';
import type { EventBus, ForwardKind } from '../events.js';

export interface ForwardStats {
  /** Connections open now (including those still connecting). */
  active: number;
  /** Connections accepted since start. */
  total: number;
  /** Bytes from the remote side to the local one. */
  bytesIn: number;
  /** Bytes from the local side to the remote one. */
  bytesOut: number;
  /** Connections whose target could not be reached (channel refused, SOCKS failure, local target down). */
  failed: number;
}

/** Where a forward listens once started. For `remote`, the server's side. */
export type ForwardAddress =
  | { type: 'tcp'; port: number; /** Bound addresses (`127.0.0.1`, `::1`, `::`...). */ hosts: string[] }
  | { type: 'unix'; path: string };

export interface ForwardOptions {
  /** Receives `forward-listening`, `forward-failed`, `forward-closed`, `client-open`, `client-close`, `warning`. */
  bus?: EventBus;
  /** Stable id used in events; default `L1`, `R2`, `D3`... */
  id?: string;
  /**
   * OpenSSH `GatewayPorts` for local listeners: with no bind address given, listen on
   * all interfaces instead of loopback. Default false.
   */
  gatewayPorts?: boolean;
  /** Listen backlog for local listeners; default 4096 (the kernel caps it at somaxconn). */
  backlog?: number;
  /**
   * Channels moving data at once before new -L/-D connections wait for theirs; default 32.
   * Idle connections do not count. See `admission.ts` for why (sshd's cost grows with
   * the square of the busy channels).
   */
  maxBusyChannels?: number;
  /** Whether this process may listen below 1024; default: ask the OS. */
  mayBindPrivileged?: boolean;
  /** Seconds a SOCKS client may take to send its request; default 30. */
  socksHandshakeTimeout?: number;
  /** Emit `forward-failed` when start() fails; default true (false: the caller reports it). */
  reportFailure?: boolean;
}

export interface Forward {
  readonly id: string;
  readonly kind: ForwardKind;
  readonly spec: ForwardSpec;
  /** `127.0.0.1:5555 → localhost:6666 via mahuika`; final once started. */
  readonly label: string;
  readonly stats: Readonly<ForwardStats>;
  /** Listens (locally, or asks the server to). Rejects with a BurrowError. */
  start(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Undefined before start and after close. */
  address(): ForwardAddress | undefined;
  /** Resolves once no connection is open (at once if none is); it goes on listening. */
  idle(): Promise<void>;
  /** Stops listening; resolves when every open connection has ended on its own. */
  close(): Promise<void>;
  /** Stops listening and cuts every connection now. */
  destroy(): void;
}
