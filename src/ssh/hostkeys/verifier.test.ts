import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostVerifier, knownHostKeyTypes, type HostKeyPolicy } from './verifier.js';
import { fingerprintSha256 } from './keyblob.js';

let dir: string;
let n = 0;
function keygen(type: 'ed25519' | 'rsa'): { blob: Buffer; b64: string } {
  const path = join(dir, `key${n++}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path], { stdio: 'ignore' });
  const b64 = readFileSync(`${path}.pub`, 'utf8').split(' ')[1] ?? '';
  return { blob: Buffer.from(b64, 'base64'), b64 };
}
function khFile(text?: string): string {
  const file = join(dir, `kh${n++}`);
  if (text !== undefined) writeFileSync(file, text);
  return file;
}
function policy(over: Partial<HostKeyPolicy>): HostKeyPolicy & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    host: 'login.hpc',
    port: 22,
    userKnownHostsFiles: [],
    globalKnownHostsFiles: [],
    strict: 'yes',
    onWarning: (m) => warnings.push(m),
    warnings,
    ...over,
  };
}
/** Runs the verifier as ssh2 would and reports its answer and error. */
async function check(p: HostKeyPolicy, key: Buffer) {
  const hv = createHostVerifier(p);
  const ok = await new Promise<boolean>((resolve) => {
    const ret: unknown = hv.verify(key, resolve);
    // ssh2 treats a returned value (a Promise included) as the answer: there must be none.
    assert.equal(ret, undefined);
  });
  return { ok, error: hv.error };
}

let ed: { blob: Buffer; b64: string };
let ed2: { blob: Buffer; b64: string };
let rsa: { blob: Buffer; b64: string };
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-hv-'));
  ed = keygen('ed25519');
  ed2 = keygen('ed25519');
  rsa = keygen('rsa');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('known hosts', () => {
  test('a matching key passes; a key only in a global file passes', async () => {
    const user = khFile(`login.hpc ssh-ed25519 ${ed.b64}\n`);
    assert.deepEqual(await check(policy({ userKnownHostsFiles: [user] }), ed.blob), { ok: true, error: undefined });
    const global = khFile(`*.hpc ssh-ed25519 ${ed.b64}\n`);
    const r = await check(policy({ userKnownHostsFiles: [khFile()], globalKnownHostsFiles: [global] }), ed.blob);
    assert.equal(r.ok, true);
  });

  test('bad lines and unreadable files are warned about and skipped', async () => {
    const user = khFile(`garbage-line\nlogin.hpc ssh-ed25519 ${ed.b64}\n`);
    const p = policy({ userKnownHostsFiles: [user], globalKnownHostsFiles: [dir] });
    assert.equal((await check(p, ed.blob)).ok, true);
    assert.equal(p.warnings.length, 2);
    assert.ok(p.warnings[0]?.startsWith(`${user}:1: `), p.warnings[0]);
    assert.ok(p.warnings[1]?.startsWith(`${dir}: cannot read`), p.warnings[1]);
  });

  test('a changed key is refused under every strict mode, naming file:line and the new fingerprint', async () => {
    const user = khFile(`# c\nother ssh-ed25519 ${ed2.b64}\nlogin.hpc ssh-ed25519 ${ed.b64}\n`);
    for (const strict of ['yes', 'no', 'accept-new', 'ask'] as const) {
      const asked: string[] = [];
      const p = policy({ userKnownHostsFiles: [user], strict, ask: async (q) => (asked.push(q), 'yes') });
      const r = await check(p, ed2.blob);
      assert.equal(r.ok, false);
      assert.equal(r.error?.code, 'HOST_KEY_MISMATCH');
      assert.equal(r.error?.phase, 'hostkey');
      assert.ok(r.error?.message.includes(`${user}:3`), r.error?.message);
      assert.ok(r.error?.message.includes(fingerprintSha256(ed2.blob)));
      assert.ok(r.error?.message.includes(`ssh-keygen -f '${user}' -R 'login.hpc'`));
      assert.deepEqual(asked, []);
    }
    assert.equal(readFileSync(user, 'utf8').split('\n').length, 4, 'nothing appended');
  });

  test('@revoked refuses even a key also listed as known; @cert-authority does not make a host known', async () => {
    const user = khFile(`login.hpc ssh-ed25519 ${ed.b64}\n@revoked * ssh-ed25519 ${ed.b64}\n`);
    const r = await check(policy({ userKnownHostsFiles: [user], strict: 'no' }), ed.blob);
    assert.equal(r.error?.code, 'HOST_KEY_REVOKED');
    assert.match(r.error?.message ?? '', new RegExp(`${user}:2`));

    const ca = khFile(`@cert-authority login.hpc ssh-ed25519 ${ed.b64}\n`);
    const r2 = await check(policy({ userKnownHostsFiles: [ca] }), ed.blob);
    assert.equal(r2.error?.code, 'HOST_KEY_UNKNOWN');
  });

  test('a key of another type than the known one is refused unless a person confirms it', async () => {
    const user = khFile(`login.hpc ssh-rsa ${rsa.b64}\n`);
    for (const strict of ['yes', 'no', 'accept-new'] as const) {
      const r = await check(policy({ userKnownHostsFiles: [user], strict }), ed.blob);
      assert.equal(r.error?.code, 'HOST_KEY_MISMATCH');
      assert.equal(r.error?.details['reason'], 'other-type');
      assert.ok(r.error?.message.includes(`RSA key in ${user}:1`), r.error?.message);
    }
    let question = '';
    const r = await check(policy({ userKnownHostsFiles: [user], strict: 'ask', ask: async (q) => ((question = q), 'yes') }), ed.blob);
    assert.equal(r.ok, true);
    assert.match(question, /can't be established\nbut keys of different type are already known for this host\.\n/);
    assert.deepEqual(await knownHostKeyTypes(policy({ userKnownHostsFiles: [user] })), ['ssh-rsa', 'ssh-ed25519']);
  });

  test('HostKeyAlias: keys are looked up under the alias, without the port', async () => {
    const user = khFile(`cluster-alias ssh-ed25519 ${ed.b64}\n`);
    const aliased = policy({ host: '10.1.1.1', port: 2222, hostKeyAlias: 'cluster-alias', userKnownHostsFiles: [user] });
    assert.equal((await check(aliased, ed.blob)).ok, true);

    const fresh = { ...aliased, userKnownHostsFiles: [khFile()] };
    const r = await check(fresh, ed.blob);
    assert.equal(r.error?.code, 'HOST_KEY_UNKNOWN');
    assert.ok(r.error?.message.includes(`ssh-keyscan -t ed25519 -p 2222 10.1.1.1 | sed 's/^[^ ]*/cluster-alias/'`), r.error?.message);
    assert.equal((await check({ ...fresh, strict: 'accept-new' }, ed.blob)).ok, true);
    assert.equal(readFileSync(fresh.userKnownHostsFiles[0] ?? '', 'utf8'), `cluster-alias ssh-ed25519 ${ed.b64}\n`);
  });

  test('a blob that is not an SSH key is refused', async () => {
    const r = await check(policy({}), Buffer.from('garbage'));
    assert.equal(r.error?.code, 'HOST_KEY_REJECTED');
  });
});

describe('unknown hosts', () => {
  test("strict=yes refuses with HOST_KEY_UNKNOWN saying how to add it, and writes nothing", async () => {
    const user = khFile();
    const r = await check(policy({ port: 2222, userKnownHostsFiles: [user] }), ed.blob);
    assert.equal(r.error?.code, 'HOST_KEY_UNKNOWN');
    assert.ok(r.error?.message.includes(fingerprintSha256(ed.blob)));
    assert.ok(r.error?.message.includes(`ssh-keyscan -t ed25519 -p 2222 login.hpc >> ${user}`), r.error?.message);
    assert.equal(existsSync(user), false);
  });

  test("'no' and 'accept-new' accept and append (hashed when asked), with a warning", async () => {
    for (const strict of ['no', 'accept-new'] as const) {
      const p = policy({ port: 2200, strict, userKnownHostsFiles: [khFile(), khFile()] });
      const r = await check(p, ed.blob);
      assert.equal(r.ok, true);
      assert.equal(readFileSync(p.userKnownHostsFiles[0] ?? '', 'utf8'), `[login.hpc]:2200 ssh-ed25519 ${ed.b64}\n`);
      assert.match(p.warnings.join('\n'), /Permanently added '\[login\.hpc\]:2200' \(ED25519\)/);
      assert.equal((await check({ ...p, strict: 'yes' }, ed.blob)).ok, true, 'known the second time');
    }
    const hp = policy({ strict: 'accept-new', hashKnownHosts: true, userKnownHostsFiles: [khFile()] });
    await check(hp, ed.blob);
    assert.match(readFileSync(hp.userKnownHostsFiles[0] ?? '', 'utf8'), /^\|1\|\S+ ssh-ed25519 /);
    assert.equal((await check({ ...hp, strict: 'yes' }, ed.blob)).ok, true);
  });

  test('an unwritable known_hosts is a warning, not a refusal', async () => {
    const blocker = khFile('not a directory');
    const p = policy({ strict: 'accept-new', userKnownHostsFiles: [join(blocker, 'known_hosts')] });
    const r = await check(p, ed.blob);
    assert.equal(r.ok, true);
    assert.match(p.warnings.join('\n'), /Failed to add the host key/);
  });

  test("'ask': OpenSSH's question; yes or the fingerprint accept and append; anything else is rejected", async () => {
    const fp = fingerprintSha256(ed.blob);
    const questions: string[] = [];
    for (const answer of ['yes', ' YES\n', fp]) {
      const p = policy({ strict: 'ask', userKnownHostsFiles: [khFile()], ask: async (q) => (questions.push(q), answer) });
      assert.equal((await check(p, ed.blob)).ok, true, answer);
      assert.match(readFileSync(p.userKnownHostsFiles[0] ?? '', 'utf8'), /^login\.hpc ssh-ed25519 /);
    }
    assert.equal(
      questions[0],
      "The authenticity of host 'login.hpc' can't be established.\n" +
        `ED25519 key fingerprint is ${fp}.\n` +
        'Are you sure you want to continue connecting (yes/no/[fingerprint])? ',
    );
    for (const answer of ['no', '', 'y', fp.slice(0, -1)]) {
      const p = policy({ strict: 'ask', userKnownHostsFiles: [khFile()], ask: async () => answer });
      const r = await check(p, ed.blob);
      assert.equal(r.error?.code, 'HOST_KEY_REJECTED', answer);
      assert.equal(existsSync(p.userKnownHostsFiles[0] ?? ''), false);
    }
  });

  test("'ask' without a way to ask fails fast with HOST_KEY_UNKNOWN", async () => {
    assert.equal((await check(policy({ strict: 'ask' }), ed.blob)).error?.code, 'HOST_KEY_UNKNOWN');
    const r = await check(policy({ strict: 'ask', ask: async () => undefined }), ed.blob);
    assert.equal(r.error?.code, 'HOST_KEY_UNKNOWN');
    assert.match(r.error?.message ?? '', /no terminal/);
  });

  test('a failing ask() becomes a refusal with the error, not an acceptance', async () => {
    const r = await check(policy({ strict: 'ask', ask: async () => Promise.reject(new Error('tty gone')) }), ed.blob);
    assert.equal(r.ok, false);
    assert.match(r.error?.message ?? '', /tty gone/);
  });
});
