import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jumpFromProxyCommand } from './proxy-command.js';
import type { ResolvedHost } from '../config/types.js';

const cfg = (proxyCommand: string) => ({ hostname: 'login.mahuika.nesi.org.nz', port: 22, proxyCommand }) as ResolvedHost;

test('the article\'s ssh -W ProxyCommand becomes a native jump', () => {
  assert.equal(jumpFromProxyCommand(cfg('ssh -W login.mahuika.nesi.org.nz:22 lander')), 'lander');
  assert.equal(jumpFromProxyCommand(cfg('/usr/bin/ssh -q -l me -p 2222 -W login.mahuika.nesi.org.nz:22 lander')), 'me@lander:2222');
});

test('anything else stays a ProxyCommand', () => {
  for (const c of ['nc %h %p', 'ssh -W other:22 lander', 'ssh -W login.mahuika.nesi.org.nz:22 -o Foo=bar lander', 'ssh lander nc login 22', 'ssh -W login.mahuika.nesi.org.nz:22 lander; rm x', 'ssh -W login.mahuika.nesi.org.nz:23 lander']) {
    assert.equal(jumpFromProxyCommand(cfg(c)), undefined, c);
  }
});
