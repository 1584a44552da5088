import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBurrowError } from '../../errors.js';
import { parseDestination, parseOptionArg } from './index.js';
import { splitArgs, splitLine } from './lexer.js';
import { hostLineMatches, matchHostname, matchPatternList } from './patterns.js';

describe('splitLine / splitArgs', () => {
  it('splits keyword and rest with whitespace or one =', () => {
    assert.deepEqual(splitLine('  Port 22  '), { keyword: 'port', rest: '22' });
    assert.deepEqual(splitLine('Port=22'), { keyword: 'port', rest: '22' });
    assert.deepEqual(splitLine('PORT = 22'), { keyword: 'port', rest: '22' });
    assert.deepEqual(splitLine('ProxyCommand ssh -W "%h:%p" gw # kept'), {
      keyword: 'proxycommand',
      rest: 'ssh -W "%h:%p" gw # kept',
    });
    assert.equal(splitLine('   # comment'), undefined);
    assert.equal(splitLine('\t\f'), undefined);
    assert.deepEqual(splitLine('Port'), { keyword: 'port', rest: '' });
  });

  it('handles quotes, escapes and comments like argv_split', () => {
    assert.deepEqual(splitArgs('a "b c" \'d e\' f\\ g # comment'), ['a', 'b c', 'd e', 'f g']);
    assert.deepEqual(splitArgs('x#notcomment "q"uoted'), ['x#notcomment', 'quoted']);
    assert.deepEqual(splitArgs('"a\\"b"'), ['a"b']);
    assert.equal(splitArgs('"open'), undefined);
  });
});

describe('patterns', () => {
  it('Host lines: each argument one pattern, negation wins', () => {
    assert.equal(hostLineMatches('login1', ['login?']), true);
    assert.equal(hostLineMatches('login12', ['login?']), false);
    assert.equal(hostLineMatches('a.nesi.org.nz', ['*.nesi.org.nz', '!lander.*']), true);
    assert.equal(hostLineMatches('lander.nesi.org.nz', ['*.nesi.org.nz', '!lander.*']), false);
    assert.equal(hostLineMatches('lander', ['!lander']), false);
    assert.equal(hostLineMatches('a', ['a,b']), false);
    assert.equal(hostLineMatches('Mixed', ['mixed']), false);
  });

  it('Match lists: commas, negation, case folding for hosts', () => {
    assert.equal(matchPatternList('bob', 'alice,b*', false), 1);
    assert.equal(matchPatternList('bob', '*,!bob', false), -1);
    assert.equal(matchPatternList('carol', 'alice,bob', false), 0);
    assert.equal(matchHostname('Login.Example.ORG', 'login.*.org'), true);
  });
});

describe('parseOptionArg', () => {
  it('splits Key=Value and Key Value', () => {
    assert.deepEqual(parseOptionArg('ServerAliveInterval=30'), { key: 'serveraliveinterval', value: '30' });
    assert.deepEqual(parseOptionArg('ProxyJump jump.example.org'), { key: 'proxyjump', value: 'jump.example.org' });
    assert.deepEqual(parseOptionArg('ForwardX11=yes'), { key: 'forwardx11', value: 'yes' });
  });

  it('rejects unknown keywords and missing values', () => {
    assert.throws(() => parseOptionArg('NoSuch=1'), (e) => isBurrowError(e, 'CONFIG'));
    assert.throws(() => parseOptionArg('Port'), (e) => isBurrowError(e, 'USAGE'));
    assert.throws(() => parseOptionArg(''), (e) => isBurrowError(e, 'USAGE'));
  });
});

describe('parseDestination', () => {
  it('takes host, user@host and ssh:// URIs', () => {
    assert.deepEqual(parseDestination('mahuika'), { host: 'mahuika' });
    assert.deepEqual(parseDestination('me@x@mahuika'), { user: 'me@x', host: 'mahuika' });
    assert.deepEqual(parseDestination('ssh://bob@mahuika:2200'), { user: 'bob', host: 'mahuika', port: 2200 });
    assert.deepEqual(parseDestination('ssh://[::1]:22/'), { host: '::1', port: 22 });
    assert.deepEqual(parseDestination('ssh://a%40b;fp=x@h'), { user: 'a@b', host: 'h' });
  });

  it('rejects malformed destinations', () => {
    for (const d of ['@host', 'user@', 'ssh://h:99999', 'ssh://h/path', 'ssh://@h']) {
      assert.throws(() => parseDestination(d), (e) => isBurrowError(e, 'USAGE'), d);
    }
  });
});
