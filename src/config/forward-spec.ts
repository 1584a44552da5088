/**
 * Forward specs in OpenSSH syntax (`-L`, `-R`, `-D` and the `LocalForward`,
 * `RemoteForward`, `DynamicForward` config keys), parsed into a typed value.
 */
import { BurrowError } from '../errors.js';
import type { ForwardKind } from '../events.js';

export type { ForwardKind };

/** Where a forward listens: a TCP port (0 = pick one) or a unix socket path. */
export type ListenEndpoint = { type: 'tcp'; bind?: string; port: number } | { type: 'unix'; path: string };

/** Where a forward connects to. */
export type TargetEndpoint = { type: 'tcp'; host: string; port: number } | { type: 'unix'; path: string };

export interface ForwardSpec {
  kind: ForwardKind;
  /**
   * For `local`/`dynamic` the local listener, for `remote` the server's. `bind` is
   * undefined when none was given; `*` means all interfaces (also written as empty).
   */
  listen: ListenEndpoint;
  /** Absent only for `dynamic` (SOCKS picks the target per connection). */
  target?: TargetEndpoint;
  /** The spec as the user wrote it. */
  text: string;
}

const FORMS: Record<ForwardKind, string> = {
  local:
    '[bind:]port:host:hostport, [bind:]port:/remote.sock, /local.sock:host:hostport or /local.sock:/remote.sock (e.g. 5555:localhost:6666)',
  remote:
    '[bind:]port:host:hostport, [bind:]port:/local.sock, /remote.sock:host:hostport or /remote.sock:/local.sock (e.g. 6676:localhost:6676; port 0 lets the server pick)',
  dynamic: '[bind:]port (e.g. 1080)',
};

const FLAGS: Record<ForwardKind, string> = { local: '-L', remote: '-R', dynamic: '-D' };

function bad(kind: ForwardKind, text: string, why: string): BurrowError {
  return new BurrowError('BAD_FORWARD_SPEC', `bad ${FLAGS[kind]} spec '${text}': ${why}; expected ${FORMS[kind]}`, {
    phase: 'config',
    details: { kind, spec: text },
  });
}

/** Splits on `:` outside `[...]`, removing the brackets (as OpenSSH's `hpdelim2`). */
function splitFields(kind: ForwardKind, text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '[' && cur === '') {
      const close = text.indexOf(']', i);
      if (close < 0) throw bad(kind, text, "unclosed '['");
      cur = text.slice(i + 1, close);
      i = close + 1;
      if (i < text.length && text[i] !== ':') throw bad(kind, text, "':' expected after ']'");
      continue;
    }
    if (c === ':') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
    i++;
  }
  out.push(cur);
  return out;
}

const isPath = (f: string): boolean => f.includes('/');

function parsePort(kind: ForwardKind, text: string, field: string, what: string, allowZero: boolean): number {
  const f = field.toLowerCase() === 'auto' ? '0' : field;
  if (!/^\d{1,5}$/.test(f)) throw bad(kind, text, `${what} '${field}' is not a number`);
  const port = Number(f);
  if (port > 65535) throw bad(kind, text, `${what} ${port} is out of range (1-65535)`);
  if (port === 0 && !allowZero) throw bad(kind, text, `${what} must not be 0`);
  return port;
}

function listenTcp(kind: ForwardKind, text: string, bind: string | undefined, port: string): ListenEndpoint {
  const p = parsePort(kind, text, port, 'listen port', true);
  if (bind === undefined) return { type: 'tcp', port: p };
  return { type: 'tcp', bind: bind === '' ? '*' : bind, port: p };
}

function target(kind: ForwardKind, text: string, host: string, port: string | undefined): TargetEndpoint {
  if (port === undefined) {
    if (!isPath(host)) throw bad(kind, text, `'${host}' is neither host:port nor a socket path`);
    return { type: 'unix', path: host };
  }
  if (host === '') throw bad(kind, text, 'the target host is empty');
  return { type: 'tcp', host, port: parsePort(kind, text, port, 'target port', false) };
}

/**
 * Parses a forward spec as `ssh` takes it after `-L`, `-R` or `-D`, or, with
 * `fromConfig`, as the value of `LocalForward`/`RemoteForward`/`DynamicForward`
 * (listen and target separated by whitespace). `auto` as a listen port means 0.
 * Throws `BAD_FORWARD_SPEC` with the expected form when the spec is malformed.
 *
 * @example
 * parseForwardSpec('local', '5555:localhost:6666');
 * // { kind: 'local', listen: { type: 'tcp', port: 5555 },
 * //   target: { type: 'tcp', host: 'localhost', port: 6666 }, text: '5555:localhost:6666' }
 * parseForwardSpec('local', '[::1]:8888:/run/app.sock');
 * parseForwardSpec('remote', '0:localhost:22');          // the server picks the port
 * parseForwardSpec('local', '6676 mahuika:6676', { fromConfig: true });
 */
export function parseForwardSpec(kind: ForwardKind, text: string, opts: { fromConfig?: boolean } = {}): ForwardSpec {
  let spec = text.trim();
  if (opts.fromConfig && kind !== 'dynamic') {
    const m = /^(\S+)\s+(\S+)$/.exec(spec);
    if (m) spec = `${m[1]}:${m[2]}`;
  }
  if (spec === '') throw bad(kind, text, 'it is empty');
  if (/\s/.test(spec)) throw bad(kind, text, 'unexpected whitespace');
  const f = splitFields(kind, spec);

  if (kind === 'dynamic') {
    if (f.length === 1) return { kind, listen: listenTcp(kind, text, undefined, f[0] as string), text };
    if (f.length === 2) return { kind, listen: listenTcp(kind, text, f[0], f[1] as string), text };
    throw bad(kind, text, `${f.length} fields`);
  }

  const [a = '', b = '', c = '', d = ''] = f;
  let listen: ListenEndpoint;
  let tgt: TargetEndpoint;
  switch (f.length) {
    case 2: // port:/path, /path:/path
      if (!isPath(b)) throw bad(kind, text, 'the target is missing');
      listen = isPath(a) ? { type: 'unix', path: a } : listenTcp(kind, text, undefined, a);
      tgt = target(kind, text, b, undefined);
      break;
    case 3: // port:host:hostport, bind:port:/path, /path:host:hostport
      if (isPath(a)) {
        listen = { type: 'unix', path: a };
        tgt = target(kind, text, b, c);
      } else if (isPath(c)) {
        listen = listenTcp(kind, text, a, b);
        tgt = target(kind, text, c, undefined);
      } else {
        listen = listenTcp(kind, text, undefined, a);
        tgt = target(kind, text, b, c);
      }
      break;
    case 4: // bind:port:host:hostport
      if (isPath(a)) throw bad(kind, text, 'a socket path cannot have a bind address');
      listen = listenTcp(kind, text, a, b);
      tgt = target(kind, text, c, d);
      break;
    default:
      throw bad(kind, text, f.length === 1 ? 'the target is missing' : `${f.length} fields`);
  }
  return { kind, listen, target: tgt, text };
}

/** `127.0.0.1:5555`, `[::1]:5555`, `/run/app.sock`: an endpoint as a user reads it. */
export function formatEndpoint(e: ListenEndpoint | TargetEndpoint, defaultHost = 'localhost'): string {
  if (e.type === 'unix') return e.path;
  const host = 'host' in e ? e.host : (e.bind ?? defaultHost);
  return `${host.includes(':') ? `[${host}]` : host}:${e.port}`;
}
