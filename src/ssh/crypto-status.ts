/**
 * What the installed ssh2 brings: whether its native crypto binding loaded (without it
 * ssh2 silently falls back to JavaScript crypto, several times slower) and whether
 * burrow's window patch (`patches/ssh2+1.17.0.patch`) is applied. `burrow --version -v`
 * prints this and the CLI warns when either is missing.
 *
 * @example
 * const s = cryptoStatus();
 * if (!s.nativeBinding) console.warn('ssh2 runs without its native crypto binding: transfers will be slow');
 */
import { createRequire } from 'node:module';

export interface CryptoStatus {
  /** ssh2's `sshcrypto.node` binding is in use (`lib/protocol/crypto.js` `bindingAvailable`). */
  nativeBinding: boolean;
  /** The installed ssh2 version, or `unknown` if its package.json cannot be read. */
  ssh2Version: string;
  /** burrow's auto-tuning channel window patch is applied to ssh2. */
  windowPatch: boolean;
}

const require = createRequire(import.meta.url);

function load(id: string): unknown {
  try {
    return require(id) as unknown;
  } catch {
    return undefined;
  }
}

function field(mod: unknown, name: string): unknown {
  return typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>)[name] : undefined;
}

let cached: CryptoStatus | undefined;

/** Inspects the installed ssh2 once; later calls return the same answer. */
export function cryptoStatus(): CryptoStatus {
  if (cached) return cached;
  const version = field(load('ssh2/package.json'), 'version');
  const channel = load('ssh2/lib/Channel.js');
  cached = {
    nativeBinding: field(load('ssh2/lib/protocol/crypto.js'), 'bindingAvailable') === true,
    ssh2Version: typeof version === 'string' ? version : 'unknown',
    windowPatch:
      typeof field(channel, 'WINDOW_PATCH_VERSION') === 'number' &&
      typeof field(channel, 'setWindowOptions') === 'function',
  };
  return cached;
}
