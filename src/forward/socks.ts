/**
 * The server side of a SOCKS handshake (SOCKS5 without auth, SOCKS4 and 4a; CONNECT
 * only), as a push parser: feed it bytes as they arrive, in any split, and it says
 * what to send back and when the request is complete.
 */
export interface SocksRequest {
  version: 4 | 5;
  host: string;
  port: number;
}

export type SocksStep =
  /** Send `reply` (if any) and feed more bytes. */
  | { type: 'more'; reply?: Buffer }
  /**
   * The CONNECT request; send `reply` (if any: the method selection, when greeting and
   * request came in one read), open the target, then send {@link connectReply}.
   * `rest` are bytes the client sent after the request.
   */
  | { type: 'request'; reply?: Buffer; request: SocksRequest; rest: Buffer }
  /** Send `reply` (if any), then close: the client asked for something we do not do. */
  | { type: 'fail'; reply?: Buffer; message: string };

/** SOCKS5 reply codes (RFC 1928 §6). */
export const Socks5Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_NOT_SUPPORTED: 0x08,
} as const;

const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;
const CMD_CONNECT = 0x01;
/** Cap on the SOCKS4 user id / 4a host name, so a client cannot grow our buffer. */
const MAX_FIELD = 1024;

/** A SOCKS5 reply with an all-zero IPv4 bound address (clients ignore it for CONNECT). */
export function socks5Reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

/** A SOCKS4 reply: 0x5a granted, 0x5b rejected or failed. */
export function socks4Reply(granted: boolean): Buffer {
  return Buffer.from([0x00, granted ? 0x5a : 0x5b, 0, 0, 0, 0, 0, 0]);
}

/** Reply to send for a CONNECT that succeeded (`ok`) or failed with `code` (SOCKS5 numbering). */
export function connectReply(version: 4 | 5, code: number): Buffer {
  return version === 5 ? socks5Reply(code) : socks4Reply(code === Socks5Reply.SUCCEEDED);
}

function ipv6(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  // Let the URL parser compress it to its canonical form.
  return new URL(`http://[${parts.join(':')}]`).hostname.slice(1, -1);
}

export class SocksHandshake {
  #buf: Buffer = Buffer.alloc(0);
  #stage: 'hello' | 'request5' | 'done' = 'hello';

  /** Feeds bytes; returns what to do next. */
  push(chunk: Buffer): SocksStep {
    if (this.#stage === 'done') return { type: 'fail', message: 'handshake already complete' };
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    return this.#stage === 'hello' ? this.#hello() : this.#request5();
  }

  #consume(n: number): void {
    this.#buf = this.#buf.subarray(n);
  }

  #hello(): SocksStep {
    const b = this.#buf;
    if (b.length < 1) return { type: 'more' };
    if (b[0] === 0x04) return this.#request4();
    if (b[0] !== 0x05) return this.#fail(undefined, `not a SOCKS4/5 client (first byte 0x${b[0]?.toString(16)})`);
    if (b.length < 2) return { type: 'more' };
    const n = b[1] as number;
    if (b.length < 2 + n) return { type: 'more' };
    const methods = b.subarray(2, 2 + n);
    this.#consume(2 + n);
    if (!methods.includes(NO_AUTH)) {
      return this.#fail(Buffer.from([0x05, NO_ACCEPTABLE_METHOD]), 'the SOCKS5 client does not offer no-auth');
    }
    this.#stage = 'request5';
    const next = this.#request5();
    const reply = Buffer.from([0x05, NO_AUTH]);
    // The request may have come in the same read; the method reply still goes out first.
    return { ...next, reply: Buffer.concat([reply, next.reply ?? Buffer.alloc(0)]) };
  }

  #request5(): SocksStep {
    const b = this.#buf;
    if (b.length < 5) return { type: 'more' };
    if (b[0] !== 0x05) return this.#fail(socks5Reply(Socks5Reply.GENERAL_FAILURE), 'bad SOCKS5 request version');
    const cmd = b[1];
    const atyp = b[3];
    let hostEnd: number;
    let host: string;
    if (atyp === 0x01) {
      hostEnd = 4 + 4;
      if (b.length < hostEnd + 2) return { type: 'more' };
      host = Array.from(b.subarray(4, 8)).join('.');
    } else if (atyp === 0x04) {
      hostEnd = 4 + 16;
      if (b.length < hostEnd + 2) return { type: 'more' };
      host = ipv6(b.subarray(4, 20));
    } else if (atyp === 0x03) {
      const len = b[4] as number;
      hostEnd = 5 + len;
      if (b.length < hostEnd + 2) return { type: 'more' };
      host = b.subarray(5, hostEnd).toString('utf8');
      if (len === 0) return this.#fail(socks5Reply(Socks5Reply.GENERAL_FAILURE), 'empty SOCKS5 host name');
    } else {
      return this.#fail(socks5Reply(Socks5Reply.ADDRESS_NOT_SUPPORTED), `SOCKS5 address type ${atyp} is not supported`);
    }
    const port = b.readUInt16BE(hostEnd);
    this.#consume(hostEnd + 2);
    if (cmd !== CMD_CONNECT) {
      return this.#fail(socks5Reply(Socks5Reply.COMMAND_NOT_SUPPORTED), `SOCKS5 command ${cmd} is not supported (CONNECT only)`);
    }
    return this.#done({ version: 5, host, port });
  }

  #request4(): SocksStep {
    const b = this.#buf;
    if (b.length < 9) return { type: 'more' };
    const userEnd = b.indexOf(0, 8);
    if (userEnd < 0) return b.length > 8 + MAX_FIELD ? this.#fail(socks4Reply(false), 'SOCKS4 user id too long') : { type: 'more' };
    const port = b.readUInt16BE(2);
    const ip = b.subarray(4, 8);
    let host = Array.from(ip).join('.');
    let end = userEnd + 1;
    if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0) {
      // SOCKS4a: the host name follows the user id.
      const nameEnd = b.indexOf(0, end);
      if (nameEnd < 0) return b.length > end + MAX_FIELD ? this.#fail(socks4Reply(false), 'SOCKS4a host too long') : { type: 'more' };
      host = b.subarray(end, nameEnd).toString('utf8');
      end = nameEnd + 1;
      if (host === '') return this.#fail(socks4Reply(false), 'empty SOCKS4a host name');
    }
    this.#consume(end);
    if (b[1] !== CMD_CONNECT) return this.#fail(socks4Reply(false), `SOCKS4 command ${b[1]} is not supported (CONNECT only)`);
    return this.#done({ version: 4, host, port });
  }

  #done(request: SocksRequest): SocksStep {
    this.#stage = 'done';
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    return { type: 'request', request, rest };
  }

  #fail(reply: Buffer | undefined, message: string): SocksStep {
    this.#stage = 'done';
    return reply ? { type: 'fail', reply, message } : { type: 'fail', message };
  }
}

/**
 * Maps a failure to open the channel to the closest SOCKS5 reply code. The server's
 * own words (`Connection refused`, `Name or service not known`) are in the ssh2 error,
 * which a Session keeps as `cause`; the open-failure reason code is the fallback.
 */
export function replyCodeFor(err: unknown): number {
  type E = { message?: unknown; reason?: unknown; cause?: unknown; details?: { reason?: unknown } } | undefined;
  const e = err as E;
  const inner = e?.cause as E;
  const desc = `${String(inner?.message ?? '')} ${String(e?.message ?? '')}`;
  const reason = e?.reason ?? e?.details?.reason ?? inner?.reason;
  if (/network is unreachable/i.test(desc)) return Socks5Reply.NETWORK_UNREACHABLE;
  if (/no route|host is unreachable|not known|resolve|getaddrinfo|no address|temporary failure in name/i.test(desc)) {
    return Socks5Reply.HOST_UNREACHABLE;
  }
  if (/refused/i.test(desc)) return Socks5Reply.CONNECTION_REFUSED;
  if (reason === 1 || /prohibited/i.test(desc)) return Socks5Reply.NOT_ALLOWED;
  if (reason === 2) return Socks5Reply.HOST_UNREACHABLE;
  return Socks5Reply.GENERAL_FAILURE;
}
