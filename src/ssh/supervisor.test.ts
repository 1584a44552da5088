import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { BurrowError } from '../errors.js';
import type { ResolvedHost } from '../config/types.js';
import { SessionHandle } from './handle.js';
import type { SessionPool } from './pool.js';
import type { Session } from './session.js';
import { Supervisor } from './supervisor.js';
import { until } from '../../test/helpers/wait.js';

/** Just enough of a Session for the supervisor: state, 'close', probeNow. */
class FakeSession extends EventEmitter {
  state = 'connected';
  probeNow(): void {}
  lose(): void {
    this.state = 'closed';
    this.emit('close', new BurrowError('DISCONNECTED', 'connection to lab lost', { phase: 'session' }));
  }
}

/** A pool whose n-th acquire succeeds or fails as `plan` says (then fails). */
function fakePool(plan: Array<'up' | 'down'>) {
  const sessions: FakeSession[] = [];
  let attempts = 0;
  const pool = {
    acquire: async () => {
      const outcome = plan[attempts++] ?? 'down';
      if (outcome === 'down') throw new BurrowError('CONNECT_FAILED', 'lab: connection refused', { phase: 'connect' });
      const s = new FakeSession();
      sessions.push(s);
      return { session: s as unknown as Session, release: async () => {} };
    },
  };
  return { pool: pool as unknown as SessionPool, sessions, attempts: () => attempts };
}

const config = { alias: 'lab' } as ResolvedHost;

// The backoff's second delay is a minute: only a waiting client can bring the attempt
// forward within the client's 5 s bound.
const backoff = { initialMs: 60_000, jitter: 0 };

/**
 * A supervisor whose pool connects, then fails once, then connects again; the first
 * session is already lost when `body` runs (the immediate reconnect attempt under way).
 */
async function afterLoss(body: (t: { handle: SessionHandle; sessions: FakeSession[]; attempts: () => number }) => Promise<void>): Promise<void> {
  const { pool, sessions, attempts } = fakePool(['up', 'down', 'up']);
  const handle = new SessionHandle('lab', { waitMs: 5000 });
  const sup = new Supervisor({ pool, config, handle, backoff });
  try {
    await sup.start();
    sessions[0]?.lose();
    await body({ handle, sessions, attempts });
  } finally {
    await sup.close();
  }
}

test('a client that waits during a long backoff brings the reconnect forward and gets the session', () =>
  afterLoss(async ({ handle, sessions, attempts }) => {
    await until('the first reconnect attempt to fail', () => attempts() === 2, 10_000);
    const session = await handle.wait();
    assert.equal(session, sessions[1]);
    assert.equal(attempts(), 3);
  }));

test('a client already waiting when a reconnect attempt fails gets the next one soon, not after the backoff', () =>
  afterLoss(async ({ handle, sessions, attempts }) => {
    // Waits from before the (immediate) first attempt fails.
    const session = await handle.wait();
    assert.equal(session, sessions[1]);
    assert.equal(attempts(), 3);
  }));

test('with nobody waiting, a failed attempt is followed by the backoff, not by another attempt', () =>
  afterLoss(async ({ attempts }) => {
    await until('the first reconnect attempt to fail', () => attempts() === 2, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(attempts(), 2, 'no attempt before the backoff without a client');
  }));
