/**
 * sshd announces its host keys after authentication (`hostkeys-00@openssh.com`). ssh2
 * answered every announcement with a request to prove them; burrow uses no proof, and a
 * global request made meanwhile (a remote forward's) waited behind its reply. Read from
 * sshd's own log: each global request it receives is logged at DEBUG1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { Session } from '../../src/ssh/session.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { sshdConfig } from '../helpers/config.js';

let sshd: Sshd;
before(async () => {
  sshd = await startSshd({ extraConfig: ['LogLevel DEBUG1'] });
});
after(async () => {
  await sshd?.stop();
});

const requests = (rtype: string): number => sshd.log().split(`rtype ${rtype} `).length - 1;

test('a connection does not ask sshd to prove its host keys', async () => {
  const proofs = requests('hostkeys-prove-00@openssh.com');
  const forwards = requests('tcpip-forward');
  const session = await Session.connect({ config: sshdConfig(sshd) });
  try {
    // sshd announced its keys before it read anything the session sent. Two requests in a
    // row: by the second reply, a proof asked on the announcement has reached sshd.
    const first = await session.listenTcp('127.0.0.1', 0, () => {});
    const second = await session.listenTcp('127.0.0.1', 0, () => {});
    await Promise.all([first.close(), second.close()]);
  } finally {
    await session.close();
  }
  assert.equal(requests('tcpip-forward'), forwards + 2, `sshd did not log the forwards: ${sshd.log().slice(-2000)}`);
  assert.equal(requests('hostkeys-prove-00@openssh.com'), proofs, 'the client asked for a host key proof');
});

test('an ssh2 client that listens for host keys still gets them proven', async () => {
  const proofs = requests('hostkeys-prove-00@openssh.com');
  const client = new Client();
  const proven = new Promise<string[]>((resolve) => client.on('hostkeys', (keys) => resolve(keys.map((k) => k.type))));
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKeyPath),
      hostVerifier: (key: Buffer) => key.toString('base64') === sshd.hostPublicKey.split(' ')[1],
    });
  });
  try {
    assert.deepEqual(await proven, ['ssh-ed25519']);
    assert.equal(requests('hostkeys-prove-00@openssh.com'), proofs + 1);
  } finally {
    client.end();
  }
});
