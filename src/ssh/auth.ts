/**
 * Client authentication, in OpenSSH's order: public keys (ssh-agent, then identity
 * files), keyboard-interactive (how "First Factor"/"Second Factor" 2FA arrives), then
 * password. Each method is tried once: a jump host locks accounts after a few failures,
 * so a refused password or one-time code ends the attempt instead of looping.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import type { ResolvedHost } from '../config/types.js';
import type { Prompter } from '../prompt.js';
import { isBurrowError, type BurrowError } from '../errors.js';

const { utils } = ssh2;

export interface AuthOptions {
  config: ResolvedHost;
  /** undefined when nobody can answer (BatchMode, no TTY). */
  prompter: Prompter | undefined;
  /** ssh-agent socket; defaults to $SSH_AUTH_SOCK (`pageant` on Windows). */
  agent?: string;
  /** A password to use instead of asking (tests, the demo). Never logged or stored. */
  password?: string;
  log?: (message: string) => void;
  /** What the person should see whatever the verbosity (a named key file that cannot be read). */
  warn?: (message: string) => void;
  /**
   * A question was cancelled (Ctrl-C or Ctrl-D at the prompt): the login stops there and
   * nothing is sent for it (an empty answer would count as a failed login on the server).
   */
  onCancelled?: (err: BurrowError) => void;
}

export interface AuthState {
  handler: AuthHandlerMiddleware;
  /** What was tried, in order (for the AUTH_FAILED message). */
  readonly tried: string[];
  /** The methods the server said it accepts, from its last USERAUTH_FAILURE. */
  readonly serverMethods: readonly string[];
  /** True when a method could not run because nobody can answer a prompt. */
  readonly neededPrompt: boolean;
}

interface Identity {
  path: string;
  key: ParsedKey;
}

/** Key files already reported unreadable: once per process, not on every reconnect. */
const reportedUnreadable = new Set<string>();

async function loadIdentity(
  path: string,
  prompter: Prompter | undefined,
  log: (m: string) => void,
  warn: ((m: string) => void) | undefined,
): Promise<Identity | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    // A key someone named (-i, IdentityFile) and that is not there is worth saying, as
    // ssh does; the default ~/.ssh/id_* that a person does not have are not.
    const why = `identity file ${path} not accessible: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    if (warn && !reportedUnreadable.has(path)) {
      reportedUnreadable.add(path);
      warn(why);
    } else log(why);
    return undefined;
  }
  let parsed = utils.parseKey(data);
  if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
    if (!prompter) {
      log(`skipping encrypted key ${path}: no terminal to ask for its passphrase`);
      return undefined;
    }
    const passphrase = await prompter.ask(`Enter passphrase for key '${path}': `, { echo: false });
    parsed = utils.parseKey(data, passphrase);
    if (parsed instanceof Error) {
      log(`wrong passphrase for ${path}`);
      return undefined;
    }
  }
  if (parsed instanceof Error) {
    log(`cannot use key ${path}: ${parsed.message}`);
    return undefined;
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key ? { path, key } : undefined;
}

function defaultAgent(): string | undefined {
  if (process.platform === 'win32') return process.env.SSH_AUTH_SOCK ?? 'pageant';
  const sock = process.env.SSH_AUTH_SOCK;
  return sock && existsSync(sock) ? sock : undefined;
}

/**
 * Builds ssh2's `authHandler`. Identity files are read lazily (an encrypted key's
 * passphrase is asked only if the server gets that far).
 */
export function createAuth(opts: AuthOptions): AuthState {
  const cancelled = (err: unknown): err is BurrowError => opts.onCancelled !== undefined && isBurrowError(err, 'ABORTED');
  const { config, prompter } = opts;
  const log = opts.log ?? (() => {});
  const username = config.user;
  const agent = opts.agent ?? defaultAgent();
  const tried: string[] = [];
  let serverMethods: string[] = [];
  let neededPrompt = false;

  // The queue of attempts, each produced on demand.
  const steps: Array<() => Promise<AnyAuthMethod | undefined>> = [];
  const allows = (m: AuthenticationType | 'publickey') => serverMethods.length === 0 || serverMethods.includes(m);

  if (agent && !config.identitiesOnly) {
    steps.push(async () => (allows('publickey') ? { type: 'agent', username, agent } : undefined));
  }
  for (const path of config.identityFiles) {
    steps.push(async () => {
      if (!allows('publickey')) return undefined;
      const id = await loadIdentity(path, prompter, log, config.identityFilesExplicit ? opts.warn : undefined);
      if (!id) return undefined;
      tried.push(`publickey ${path}`);
      return { type: 'publickey', username, key: id.key };
    });
  }
  steps.push(async () => {
    if (!allows('keyboard-interactive')) return undefined;
    if (!prompter && opts.password === undefined) {
      neededPrompt = true;
      return undefined;
    }
    tried.push('keyboard-interactive');
    let answeredWithPassword = false;
    return {
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        void (async () => {
          if (prompter && (name || instructions)) prompter.info([name, instructions].filter(Boolean).join('\n'));
          const answers: string[] = [];
          for (const p of prompts) {
            // A given password answers the first hidden prompt once; the rest go to the person.
            if (opts.password !== undefined && !p.echo && !answeredWithPassword) {
              answeredWithPassword = true;
              answers.push(opts.password);
            } else if (prompter) {
              answers.push(await prompter.ask(p.prompt, { echo: p.echo ?? false }));
            } else {
              neededPrompt = true;
              answers.push('');
            }
          }
          finish(answers);
        })().catch((err: unknown) => (cancelled(err) ? opts.onCancelled?.(err) : finish([])));
      },
    };
  });
  steps.push(async () => {
    if (!allows('password')) return undefined;
    let password = opts.password;
    if (password === undefined) {
      if (!prompter) {
        neededPrompt = true;
        return undefined;
      }
      password = await prompter.ask(`${username}@${config.hostname}'s password: `, { echo: false });
    }
    tried.push('password');
    return { type: 'password', username, password };
  });

  const handler: AuthHandlerMiddleware = (methodsLeft, _partial, next) => {
    if (methodsLeft) serverMethods = [...methodsLeft];
    void (async () => {
      while (steps.length > 0) {
        const step = steps.shift();
        const method = step ? await step() : undefined;
        if (method) {
          if (method.type === 'agent') tried.push('agent');
          log(`trying ${method.type}`);
          return next(method);
        }
      }
      next(false as unknown as AuthenticationType);
    })().catch((err: unknown) => (cancelled(err) ? opts.onCancelled?.(err) : next(false as unknown as AuthenticationType)));
  };

  return {
    handler,
    tried,
    get serverMethods() {
      return serverMethods;
    },
    get neededPrompt() {
      return neededPrompt;
    },
  };
}
