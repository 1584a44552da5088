/**
 * What each channel handler gets from the connection it serves: the ssh2 connection,
 * a way to refuse a channel with a reason the client can print, and ownership of the
 * sockets, channels and listeners it creates (all cut when the connection ends).
 */
import type { Duplex } from 'node:stream';
import type { Connection } from 'ssh2';

/** RFC 4254 §5.1 reason codes for SSH_MSG_CHANNEL_OPEN_FAILURE. */
export const OPEN_FAILURE = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4,
} as const;

export interface DemoServerStats {
  /** SSH connections accepted since start. */
  connections: number;
  /** Channels opened since start (sessions, tunnels, forwarded connections). */
  channels: number;
  /** Channel opens and forward requests refused since start. */
  refused: number;
  openConnections: number;
  openChannels: number;
}

/** A socket (cut by `destroy`) or a child process (cut by `kill`). */
export interface Closeable {
  once(event: 'close', fn: () => void): unknown;
  destroy?(): void;
  kill?(signal?: NodeJS.Signals): boolean;
}

export interface ConnContext {
  readonly conn: Connection;
  readonly username: string;
  readonly allowExec: boolean;
  /** Refuses a channel open with a reason code and a description the client shows. */
  refuse(reject: () => void, reason: number, description: string): void;
  /** Counts a global request the server turned down. */
  refused(): void;
  /** Counts an open channel and gives it an error handler. */
  track(channel: Duplex): void;
  /** Owns a socket or child until it closes; destroyed when the connection ends. */
  own(thing: Closeable): void;
  /** Runs `fn` when the connection ends (closing listeners). */
  onEnd(fn: () => void): void;
}

interface ChannelOpenFailProtocol {
  channelOpenFail(recipient: number, reason: number, description?: string): void;
}

/**
 * ssh2's channel `reject()` takes no reason: it always sends CONNECT_FAILED with an
 * empty description. To tell the user *why* (the open-proxy refusal above all), this
 * wraps the connection's protocol writer so a reject made through it carries the code
 * and text. Falls back to the plain reject if ssh2's internals ever change shape.
 */
export function reasonedRejecter(conn: Connection): (reject: () => void, reason: number, description: string) => void {
  const proto = (conn as unknown as { _protocol?: Partial<ChannelOpenFailProtocol> })._protocol;
  const original = proto?.channelOpenFail;
  if (!proto || typeof original !== 'function') return (reject) => reject();
  let pending: { reason: number; description: string } | undefined;
  proto.channelOpenFail = (recipient, reason, description) =>
    original.call(proto, recipient, pending?.reason ?? reason, pending?.description ?? description);
  return (reject, reason, description) => {
    pending = { reason, description };
    try {
      reject();
    } finally {
      pending = undefined;
    }
  };
}
