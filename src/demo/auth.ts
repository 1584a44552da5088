/**
 * Authentication for the demo server: password, public key (signature verified) and
 * keyboard-interactive with configurable prompts (e.g. a password, then a one-time
 * code, as a cluster jump host asks). `none` is always refused.
 */
import { timingSafeEqual } from 'node:crypto';
import type { AuthContext, KeyboardAuthContext, ParsedKey, PublicKeyAuthContext } from 'ssh2';
import { parseOne } from './host-key.js';

export interface KeyboardInteractivePrompt {
  prompt: string;
  /** Show what the user types (false for secrets). Default false. */
  echo?: boolean;
}

export interface KeyboardInteractiveOptions {
  prompts: Array<string | KeyboardInteractivePrompt>;
  /**
   * Ask each prompt in its own round trip, the way PAM on a jump host asks for the
   * password and then the code. Default false: all prompts in one request.
   */
  oneAtATime?: boolean;
  /** Decides, from every answer in prompt order, whether the user gets in. */
  check(user: string, answers: string[]): boolean | Promise<boolean>;
}

export interface AuthOptions {
  users?: Record<string, string>;
  authorizedKeys?: Array<Buffer | string>;
  keyboardInteractive?: KeyboardInteractiveOptions;
}

type Method = 'password' | 'publickey' | 'keyboard-interactive';

/** Builds the `authentication` handler for every connection of one server. */
export function createAuthenticator(opts: AuthOptions): (ctx: AuthContext) => void {
  const users = new Map(Object.entries(opts.users ?? {}));
  const keys: ParsedKey[] = (opts.authorizedKeys ?? []).map((k) => parseOne(k));
  const ki = opts.keyboardInteractive;
  const methods: Method[] = [];
  if (keys.length > 0) methods.push('publickey');
  if (users.size > 0) methods.push('password');
  if (ki) methods.push('keyboard-interactive');

  return (ctx) => {
    const refuse = (): void => ctx.reject(methods);
    switch (ctx.method) {
      case 'password': {
        const want = users.get(ctx.username);
        return want !== undefined && sameText(want, ctx.password) ? ctx.accept() : refuse();
      }
      case 'publickey':
        return checkPublicKey(ctx, keys) ? ctx.accept() : refuse();
      case 'keyboard-interactive':
        if (!ki) return refuse();
        askAll(ctx, ki).then(
          (answers) => Promise.resolve(ki.check(ctx.username, answers)),
        ).then(
          (ok) => (ok ? ctx.accept() : refuse()),
          () => refuse(),
        ).catch(() => undefined); // the client hung up mid-answer
        return;
      default:
        return refuse();
    }
  };
}

/**
 * Accepts a key offer without a signature (the client asking "would you take this
 * key?") and, with one, only when the signature over the session blob verifies.
 */
function checkPublicKey(ctx: PublicKeyAuthContext, keys: ParsedKey[]): boolean {
  const key = keys.find((k) => sameBytes(k.getPublicSSH(), ctx.key.data));
  if (!key) return false;
  if (ctx.signature === undefined || ctx.blob === undefined) return true;
  return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
}

function askAll(ctx: KeyboardAuthContext, ki: KeyboardInteractiveOptions): Promise<string[]> {
  const prompts = ki.prompts.map((p) => (typeof p === 'string' ? { prompt: p, echo: false } : { echo: false, ...p }));
  const ask = (batch: KeyboardInteractivePrompt[]): Promise<string[]> =>
    new Promise((resolve) => ctx.prompt(batch, 'burrow demo server', '', (answers) => resolve(answers ?? [])));
  if (!ki.oneAtATime) return ask(prompts);
  return prompts.reduce<Promise<string[]>>(
    (acc, p) => acc.then(async (got) => [...got, ...(await ask([p]))]),
    Promise.resolve([]),
  );
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function sameText(a: string, b: string): boolean {
  return sameBytes(Buffer.from(a), Buffer.from(b));
}
