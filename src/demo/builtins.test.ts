import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { runBuiltin, splitWords } from './builtins.js';

describe('built-in commands', () => {
  const env = { user: 'ann' };
  it('echo, hostname, whoami, uname, true, false', () => {
    assert.deepEqual(runBuiltin('echo hi', env), { stdout: 'hi\n', stderr: '', code: 0 });
    assert.equal(runBuiltin('echo -n hi', env).stdout, 'hi');
    assert.equal(runBuiltin('hostname', env).stdout, `${hostname()}\n`);
    assert.equal(runBuiltin('whoami', env).stdout, 'ann\n');
    assert.equal(runBuiltin('uname -n', env).stdout, `${hostname()}\n`);
    assert.equal(runBuiltin('uname -a', env).stdout.split(' ').length >= 4, true);
    assert.equal(runBuiltin('uname -z', env).code, 1);
    assert.equal(runBuiltin('true', env).code, 0);
    assert.equal(runBuiltin('false', env).code, 1);
  });
  it('anything else exits 127 and runs nothing', () => {
    const r = runBuiltin('rm -rf /tmp/x; echo hi', env);
    assert.equal(r.code, 127);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /rm: not available/);
  });
  it('splits words with quotes and backslashes', () => {
    assert.deepEqual(splitWords(`echo 'a  b' "c \\"d\\"" e\\ f ''`), ['echo', 'a  b', 'c "d"', 'e f', '']);
    assert.deepEqual(splitWords('  '), []);
  });
});
