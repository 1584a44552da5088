/**
 * The verifier against a real ssh2 Server on loopback: a refused key must stop the
 * handshake before authentication, and the BurrowError must explain why.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { BurrowError } from '../../errors.js';
import { createHostVerifier, type HostKeyPolicy } from './verifier.js';
import { hashHostName } from './patterns.js';
import { preferredHostKeyAlgorithms } from './algorithms.js';

const { Client, Server } = ssh2;

interface HostKey {
  private: Buffer;
  b64: string;
}

let dir: string;
let n = 0;
function keygen(type: 'ed25519' | 'rsa' = 'ed25519'): HostKey {
  const path = join(dir, `hostkey${n++}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path], { stdio: 'ignore' });
  return { private: readFileSync(path), b64: readFileSync(`${path}.pub`, 'utf8').split(' ')[1] ?? '' };
}

/** An ssh2 server that accepts any login and counts authentication attempts. */
class TestServer {
  readonly server: InstanceType<typeof Server>;
  authAttempts = 0;
  port = 0;
  constructor(...keys: HostKey[]) {
    this.server = new Server({ hostKeys: keys.map((k) => k.private) }, (conn) => {
      conn.on('error', () => {}); // the refusing client hangs up mid-handshake
      conn.on('authentication', (ctx) => {
        this.authAttempts++;
        ctx.accept();
      });
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

type Outcome = { ready: true } | { ready: false; error: BurrowError | Error };

/** Connects as a session would: a refusal surfaces as the verifier's BurrowError. */
async function connect(port: number, over: Partial<HostKeyPolicy>, preferKnown = false): Promise<Outcome> {
  const policy: HostKeyPolicy = {
    host: '127.0.0.1',
    port,
    userKnownHostsFiles: [],
    globalKnownHostsFiles: [],
    strict: 'yes',
    ...over,
  };
  const hv = createHostVerifier(policy);
  const algorithms = preferKnown ? { serverHostKey: await preferredHostKeyAlgorithms(policy) } : undefined;
  const client = new Client();
  return new Promise<Outcome>((resolve) => {
    client.on('ready', () => {
      client.end();
      resolve({ ready: true });
    });
    client.on('error', (e) => resolve({ ready: false, error: hv.error ?? e }));
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'u',
      password: 'p',
      hostVerifier: hv.verify,
      readyTimeout: 10_000,
      ...(algorithms && { algorithms }),
    });
  }).finally(() => client.end());
}

let key: HostKey;
let other: HostKey;
let srv: TestServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-hv2-'));
  key = keygen();
  other = keygen();
  srv = await new TestServer(key).listen();
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

function errorOf(o: Outcome): BurrowError {
  assert.equal(o.ready, false, 'the client must never reach ready');
  return (o as { error: BurrowError }).error;
}

describe('host verifier with ssh2 Client and Server', () => {
  test('unknown host with strict=yes: refused with HOST_KEY_UNKNOWN before authentication', async () => {
    const before = srv.authAttempts;
    const err = errorOf(await connect(srv.port, { userKnownHostsFiles: [join(dir, 'empty_kh')] }));
    assert.equal(err.code, 'HOST_KEY_UNKNOWN');
    assert.equal(srv.authAttempts, before, 'no credentials were offered to an unverified server');
  });

  test('changed key: refused with HOST_KEY_MISMATCH naming file:line', async () => {
    const file = join(dir, 'changed_kh');
    writeFileSync(file, `# cluster\n[127.0.0.1]:${srv.port} ssh-ed25519 ${other.b64}\n`);
    const before = srv.authAttempts;
    for (const strict of ['yes', 'no'] as const) {
      const err = errorOf(await connect(srv.port, { userKnownHostsFiles: [file], strict }));
      assert.equal(err.code, 'HOST_KEY_MISMATCH');
      assert.ok(err.message.includes(`${file}:2`), err.message);
    }
    assert.equal(srv.authAttempts, before);
  });

  test('a hashed entry for [127.0.0.1]:port matches', async () => {
    const file = join(dir, 'hashed_kh');
    writeFileSync(file, `${hashHostName(`[127.0.0.1]:${srv.port}`)} ssh-ed25519 ${key.b64}\n`);
    assert.deepEqual(await connect(srv.port, { userKnownHostsFiles: [file] }), { ready: true });
  });

  test('an entry for the bare name does not cover a non-22 port: [127.0.0.1]:port is the name', async () => {
    const file = join(dir, 'bare_kh');
    writeFileSync(file, `127.0.0.1 ssh-ed25519 ${key.b64}\n`);
    const err = errorOf(await connect(srv.port, { userKnownHostsFiles: [file] }));
    assert.equal(err.code, 'HOST_KEY_UNKNOWN');
  });

  test('accept-new appends [127.0.0.1]:port and the next strict connection succeeds', async () => {
    const file = join(dir, 'sub', 'known_hosts');
    const warnings: string[] = [];
    const first = await connect(srv.port, { userKnownHostsFiles: [file], strict: 'accept-new', onWarning: (m) => warnings.push(m) });
    assert.deepEqual(first, { ready: true });
    assert.equal(readFileSync(file, 'utf8'), `[127.0.0.1]:${srv.port} ssh-ed25519 ${key.b64}\n`);
    assert.equal(warnings.length, 1);
    assert.deepEqual(await connect(srv.port, { userKnownHostsFiles: [file], strict: 'yes' }), { ready: true });
  });

  test('a host known only by its RSA key: refused as another type, accepted once RSA is asked for first', async () => {
    const rsa = keygen('rsa');
    const two = await new TestServer(key, rsa).listen();
    try {
      const file = join(dir, 'rsa_kh');
      writeFileSync(file, `[127.0.0.1]:${two.port} ssh-rsa ${rsa.b64}\n`);
      const err = errorOf(await connect(two.port, { userKnownHostsFiles: [file], strict: 'accept-new' }));
      assert.equal(err.code, 'HOST_KEY_MISMATCH');
      assert.equal(err.details['reason'], 'other-type');
      assert.deepEqual(await connect(two.port, { userKnownHostsFiles: [file] }, true), { ready: true });
      assert.equal(readFileSync(file, 'utf8').split('\n').length, 2, 'no ED25519 key was added');
    } finally {
      await two.close();
    }
  });
});
