/**
 * Renders the event stream for a person (stderr) or a program (`--json` on stdout).
 * On a terminal, one live line shows connections and bytes, rewritten once a second,
 * except while a question is asked on that terminal (`promptsOver`).
 */
import type { EventBus, TunnelEvent } from '../events.js';
import type { Prompter } from '../prompt.js';

export interface ViewOptions {
  json: boolean;
  quiet: boolean;
  /** Warnings are printed even when quiet (as ssh prints them unless -q). */
  warnings?: boolean;
  verbose: number;
  /** Live totals for the status line; omitted = no status line. */
  totals?: () => { active: number; total: number; bytesIn: number; bytesOut: number };
  err?: NodeJS.WriteStream;
  out?: NodeJS.WritableStream;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function describe(ev: TunnelEvent, verbose: number): string | undefined {
  switch (ev.type) {
    case 'session-state':
      // A final failure is printed once, by the command that fails; here only states.
      if (ev.error) return verbose > 0 ? `${ev.destination}: ${ev.state}: ${ev.error.message}` : undefined;
      return ev.state === 'connected' || verbose > 0 ? `${ev.destination}: ${ev.state}` : undefined;
    case 'forward-listening':
      return ev.kind === 'remote' ? `  ${ev.listen} on ${ev.via} → ${ev.target}` : `  ${ev.listen} → ${ev.target} via ${ev.via}`;
    case 'forward-failed':
      return `forward ${ev.spec} failed: ${ev.error.message}`;
    case 'forward-closed':
      return verbose > 0 ? `forward ${ev.id} closed` : undefined;
    case 'client-open':
      return verbose > 0 ? `${ev.id} #${ev.client}: ${ev.from} → ${ev.to}` : undefined;
    case 'client-close':
      // A client that hangs up early (Premature close) is normal life, not news.
      if (ev.error && (verbose > 0 || !/premature close/i.test(ev.error.message))) return `${ev.id} #${ev.client}: ${ev.error.message}`;
      return verbose > 0 ? `${ev.id} #${ev.client}: closed (${formatBytes(ev.bytesIn)} in, ${formatBytes(ev.bytesOut)} out)` : undefined;
    case 'warning':
      return `warning: ${ev.message}`;
    case 'info':
      return ev.message;
  }
}

export interface View {
  /** Stops the view; the live line is cleared. */
  detach(): void;
  /** Takes the live line off the screen and keeps it off until `fn`'s promise settles. */
  hold<T>(fn: () => Promise<T>): Promise<T>;
  /** Takes the live line off the screen (it comes back at the next tick). */
  clear(): void;
}

/** Subscribes a view to the bus. */
export function attachView(bus: EventBus, opts: ViewOptions): View {
  const err = opts.err ?? process.stderr;
  const out = opts.out ?? process.stdout;
  if (opts.json) {
    const detach = bus.subscribe((ev) => out.write(`${JSON.stringify({ time: new Date().toISOString(), ...ev })}\n`));
    return { detach, hold: (fn) => fn(), clear: () => {} };
  }
  const live = Boolean(opts.totals) && err.isTTY && !opts.quiet;
  let statusShown = false;
  let holds = 0;
  const clearStatus = () => {
    if (statusShown) {
      err.write('\r\x1b[K');
      statusShown = false;
    }
  };
  const unsubscribe = bus.subscribe((ev) => {
    const shownWhenQuiet = ev.type === 'forward-failed' || (ev.type === 'session-state' && ev.error) || (ev.type === 'warning' && opts.warnings);
    if (opts.quiet && !shownWhenQuiet) return;
    const line = describe(ev, opts.verbose);
    if (line === undefined) return;
    clearStatus();
    err.write(`${line}\n`);
  });
  let timer: NodeJS.Timeout | undefined;
  if (live && opts.totals) {
    const totals = opts.totals;
    timer = setInterval(() => {
      if (holds > 0) return;
      const t = totals();
      clearStatus();
      err.write(`  ${t.active} open, ${t.total} total, ↓ ${formatBytes(t.bytesIn)} ↑ ${formatBytes(t.bytesOut)}  (Ctrl-C to stop)`);
      statusShown = true;
    }, 1000);
    timer.unref();
  }
  return {
    detach: () => {
      unsubscribe();
      if (timer) clearInterval(timer);
      clearStatus();
    },
    hold: async (fn) => {
      holds++;
      clearStatus();
      try {
        return await fn();
      } finally {
        holds--;
      }
    },
    clear: clearStatus,
  };
}

/**
 * `prompter` asking on the terminal the view draws on: a question (a password, a
 * one-time code) must not share its line with the live line, nor be wiped by its
 * next rewrite while the person types.
 */
export function promptsOver(view: View, prompter: Prompter): Prompter {
  return {
    ask: (message, opts) => view.hold(() => prompter.ask(message, opts)),
    info: (message) => {
      view.clear();
      prompter.info(message);
    },
  };
}
