/**
 * How the library asks a person something (a password, a one-time code, whether to
 * trust a host key). The CLI answers on the TTY; the agent and dashboard answer later;
 * with no answer source (`BatchMode`, no TTY) the caller gets `undefined` and fails fast.
 */
export interface Prompter {
  /** Shows `message` verbatim and reads one line; `echo: false` for secrets. */
  ask(message: string, opts: { echo: boolean; signal?: AbortSignal }): Promise<string>;
  /** Shows a message (e.g. a keyboard-interactive instruction or a banner). */
  info(message: string): void;
}
