/**
 * Ownership of resources, after VS Code's `DisposableStore`: every listener, timer,
 * socket and child process is added to the store of the object that owns it, and
 * disposing the owner releases them all, once, in reverse order.
 */
export interface Disposable {
  dispose(): void;
}

export function toDisposable(fn: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      fn();
    },
  };
}

export class DisposableStore implements Disposable {
  #items: Disposable[] = [];
  #disposed = false;

  get isDisposed(): boolean {
    return this.#disposed;
  }

  add<T extends Disposable>(d: T): T {
    if (this.#disposed) {
      d.dispose();
    } else {
      this.#items.push(d);
    }
    return d;
  }

  /** Adds a cleanup function. */
  defer(fn: () => void): Disposable {
    return this.add(toDisposable(fn));
  }

  /** Listens on an emitter until the store is disposed. */
  on<A extends unknown[]>(
    emitter: { on(ev: string, fn: (...a: A) => void): unknown; off(ev: string, fn: (...a: A) => void): unknown },
    event: string,
    fn: (...a: A) => void,
  ): Disposable {
    emitter.on(event, fn);
    return this.defer(() => emitter.off(event, fn));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const items = this.#items.reverse();
    this.#items = [];
    let first: unknown;
    for (const d of items) {
      try {
        d.dispose();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}

const abortWatchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Runs `fn` when `signal` aborts (at once if it already has); returns the call that
 * stops watching. Every forwarded connection watches its forward's signal while its
 * channel opens, so this is on each new connection's path: one 'abort' listener per
 * signal and a Set per signal cost a Set add and delete per watch, where Node's
 * EventTarget add and remove cost ~9 µs each at that pace (bench/HISTORY.md, session 29).
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  let watchers = abortWatchers.get(signal);
  if (watchers === undefined) {
    const set = new Set<() => void>();
    watchers = set;
    abortWatchers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        const fns = [...set];
        set.clear();
        for (const f of fns) f();
      },
      { once: true },
    );
  }
  const w = watchers;
  w.add(fn);
  return () => void w.delete(fn);
}
