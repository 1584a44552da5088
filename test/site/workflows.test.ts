// The article's workflows (issue 4) on the namespace test site, run from the laptop node
// through a PTY. Each workflow is written against a `Tool` (how to spell the ssh-like
// command); `TOOLS` below says which tools run each workflow, so moving a workflow from
// OpenSSH to burrow is a one-line change there. The OpenSSH runs validate the site and
// record what users see today (measurements are printed as `# ...` lines).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Pty } from '../helpers/pty.js';
import { startSite, type Site } from './site.js';
import { burrowCommand, count, sleep, waitUntil } from './tools.js';

// ---- tools --------------------------------------------------------------------------------

interface Tool {
  name: 'openssh' | 'burrow';
  /** argv for `<tool> ARGS` inside the laptop node. */
  argv(args: readonly string[]): string[];
  /** Does the tool name the process holding a local port it cannot bind? */
  namesPortHolder: boolean;
  /** Does the tool ask again after a failed keyboard-interactive round? (OpenSSH: yes, 3 times) */
  retriesAuth: boolean;
}

const OPENSSH: Tool = {
  name: 'openssh',
  argv: (a) => ['ssh', ...a],
  namesPortHolder: false,
  retriesAuth: true,
};

const BURROW: Tool = {
  name: 'burrow',
  argv: (a) => [...burrowCommand(), ...a],
  namesPortHolder: true,
  retriesAuth: false,
};

/**
 * Which tools run which workflow (wN: `mahuika`, through the config's ProxyCommand;
 * wNpj: `mahuika-pj`, through ProxyJump). A tool listed under `todo` runs as a node:test todo
 * (reported, not failing the suite) until it passes; then move it to `run`.
 */
const TOOLS: Record<string, { run: Tool[]; todo?: Tool[] }> = {
  w1: { run: [OPENSSH, BURROW] },
  w1pj: { run: [OPENSSH, BURROW] },
  w2: { run: [OPENSSH, BURROW] },
  w3: { run: [OPENSSH, BURROW] },
  w4: { run: [OPENSSH, BURROW] },
  w5: { run: [OPENSSH, BURROW] },
  w6: { run: [OPENSSH, BURROW] },
  w6pj: { run: [OPENSSH, BURROW] },
  w7: { run: [OPENSSH, BURROW] },
  w7pj: { run: [OPENSSH, BURROW] },
};

// ---- small programs run inside the nodes (node is on every node: the host's /usr) ---------

/** TCP server: answers every connection with `BANNER\n` and the first line it receives. */
const SERVER = `
const net = require('node:net');
const [port, host, banner] = process.argv.slice(1);
net.createServer((s) => {
  s.on('error', () => {});
  s.write(banner + '\\n');
  s.once('data', (d) => s.end('echo:' + d.toString().split('\\n')[0] + '\\n'));
}).listen(Number(port), host === '*' ? undefined : host, () => console.log('listening'));
`;

/** TCP client: connects, sends a line, prints what comes back; exit 1 on error or silence. */
const CLIENT = `
const net = require('node:net');
const [port, host] = process.argv.slice(1);
let got = '';
const s = net.connect(Number(port), host, () => s.write('ping\\n'));
s.setTimeout(4000, () => { console.log('TIMEOUT ' + got); process.exit(1); });
s.on('data', (d) => { got += d; });
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
s.on('close', () => { console.log(got.trim()); process.exit(got.includes('echo:ping') ? 0 : 1); });
`;

/** SOCKS5 client: CONNECT to HOST:PORT through 127.0.0.1:SOCKS, then like CLIENT. */
const SOCKS_CLIENT = `
const net = require('node:net');
const [socks, host, port] = process.argv.slice(1);
const s = net.connect(Number(socks), '127.0.0.1');
let stage = 0, got = Buffer.alloc(0), text = '';
s.setTimeout(4000, () => { console.log('TIMEOUT'); process.exit(1); });
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
s.on('connect', () => s.write(Buffer.from([5, 1, 0])));
s.on('data', (d) => {
  if (stage === 2) { text += d; return; }
  got = Buffer.concat([got, d]);
  if (stage === 0 && got.length >= 2) {
    got = got.subarray(2); stage = 1;
    const h = Buffer.from(host);
    s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, h.length]), h, Buffer.from([Number(port) >> 8, Number(port) & 255])]));
  }
  if (stage === 1 && got.length >= 10) {
    if (got[1] !== 0) { console.log('SOCKS-REFUSED ' + got[1]); process.exit(1); }
    stage = 2; text += got.subarray(10); s.write('ping\\n');
  }
});
s.on('close', () => { console.log(text.trim()); process.exit(text.includes('echo:ping') ? 0 : 1); });
`;

// ---- helpers ------------------------------------------------------------------------------

describe('article workflows on the test site', { concurrency: false }, () => {
  let site: Site | undefined;
  const need = (): Site => {
    assert.ok(site, 'the site did not come up');
    return site;
  };

  before(async () => {
    site = await startSite();
  });
  after(async () => {
    await site?.stop();
  });

  /** Starts a banner server inside a node as the test user and waits until it listens. */
  async function server(node: 'login' | 'laptop' | 'c1', port: number, host: string, banner: string): Promise<() => void> {
    const s = need();
    const child = s.spawn(node, ['node', '-e', SERVER, port.toString(), host, banner], { user: true });
    await waitUntil(`server ${banner} on ${node}:${port}`, () => s.listening(node).has(port), 5000);
    return () => {
      child.kill('SIGKILL');
    };
  }

  async function connect(port: number): Promise<{ code: number; out: string }> {
    const r = await need().exec('laptop', ['node', '-e', CLIENT, String(port), '127.0.0.1'], { user: true });
    return { code: r.code, out: r.stdout.trim() + r.stderr.trim() };
  }

  /** Starts a tool in the laptop's PTY and answers lander's password + TOTP prompts. */
  async function login(tool: Tool, args: string[], answers: { password?: string; totp?: string } = {}): Promise<Pty> {
    const s = need();
    const p = s.pty('laptop', tool.argv(args), { timeoutMs: 20_000 });
    await p.answer('Password:', answers.password ?? s.password);
    await p.answer('Second Factor:', answers.totp ?? (await s.totp()));
    return p;
  }

  /** Answers lander's prompts if the program asks before it exits. */
  async function answerIfAsked(p: Pty): Promise<void> {
    const s = need();
    const asked = await Promise.race([p.waitFor('Password:').then(() => true, () => false), p.exited.then(() => false)]);
    if (!asked) return;
    p.type(s.password);
    await p.answer('Second Factor:', await s.totp());
  }

  /** Ctrl-C, as a user would; returns how the tool ended (escalating after 3 s). */
  async function stopTool(p: Pty, label = ''): Promise<string> {
    const t0 = Date.now();
    p.write('\x03');
    const t = await Promise.race([p.exited, sleep(3000).then(() => 'timeout' as const)]);
    if (t === 'timeout') {
      await p.close();
      const msg = 'did not exit within 3 s of Ctrl-C (killed)';
      if (label) console.log(`# ${label}: ${msg}`);
      return msg;
    }
    const msg = `exited ${t.code} ${Date.now() - t0} ms after Ctrl-C`;
    if (label) console.log(`# ${label}: ${msg}`);
    return msg;
  }

  function forEachTool(id: keyof typeof TOOLS, title: string, fn: (tool: Tool) => Promise<void>): void {
    const entry = TOOLS[id];
    if (!entry) throw new Error(`no TOOLS entry for ${id}`);
    for (const tool of entry.run) test(`${id} [${tool.name}] ${title}`, () => fn(tool));
    for (const tool of entry.todo ?? []) test(`${id} [${tool.name}] ${title}`, { todo: `${tool.name} not yet validated for ${id}` }, () => fn(tool));
  }

  // (1) ssh -L 5555:localhost:6666 mahuika ------------------------------------------------
  for (const dest of ['mahuika', 'mahuika-pj'] as const) {
    forEachTool(dest === 'mahuika' ? 'w1' : 'w1pj', `-N -L 5555:localhost:6666 ${dest} reaches a server on login:6666 after one password + TOTP`, async (tool) => {
      const s = need();
      const stop = await server('login', 6666, '127.0.0.1', 'hello-from-login-6666');
      try {
        const before = s.authCounts('lander');
        const p = await login(tool, ['-N', '-L', '5555:localhost:6666', dest]);
        try {
          await waitUntil('laptop:5555 listening', () => s.listening('laptop').has(5555), 15_000, () => p.transcript);
          const r = await connect(5555);
          assert.equal(r.code, 0, `${r.out}\n${p.transcript}`);
          assert.match(r.out, /hello-from-login-6666/);
          // a second connection re-uses the session: no new prompt
          assert.equal((await connect(5555)).code, 0);
          assert.equal(count(p.transcript, 'Password:'), 1, p.transcript);
          assert.equal(count(p.transcript, 'Second Factor:'), 1, p.transcript);
          assert.equal(s.authCounts('lander').accepted, before.accepted + 1);
          const ended = await stopTool(p, `w1 ${tool.name} ${dest}`);
          assert.match(ended, /^exited/, `Ctrl-C ends the tool: ${ended}`);
        } finally {
          await p.close();
        }
        await waitUntil('laptop:5555 released', () => !s.listening('laptop').has(5555), 5000);
      } finally {
        stop();
      }
    });
  }

  // (2) LocalForward from ~/.ssh/config + ExitOnForwardFailure ---------------------------
  forEachTool('w2', '-N mahuika uses the config LocalForward 6676; with the port taken it exits non-zero', async (tool) => {
    const s = need();
    const stop = await server('login', 6676, '127.0.0.1', 'hello-from-login-6676');
    try {
      // (a) the config's LocalForward 6676 mahuika:6676 works
      const p = await login(tool, ['-N', 'mahuika']);
      try {
        await waitUntil('laptop:6676 listening', () => s.listening('laptop').has(6676), 15_000, () => p.transcript);
        const r = await connect(6676);
        assert.equal(r.code, 0, `${r.out}\n${p.transcript}`);
        assert.match(r.out, /hello-from-login-6676/);
      } finally {
        await stopTool(p);
      }
      await waitUntil('laptop:6676 released', () => !s.listening('laptop').has(6676), 5000);

      // (b) another program holds 6676 on the laptop
      const holder = await server('laptop', 6676, '*', 'squatter');
      try {
        // OpenSSH authenticates first and then fails to bind; a tool may also check the port
        // before asking anything: answer the prompts only if they come.
        const q = s.pty('laptop', tool.argv(['-N', 'mahuika']), { timeoutMs: 20_000 });
        await answerIfAsked(q);
        const exit = await q.wait(15_000);
        console.log(`# w2 ${tool.name}: port taken → exit ${exit.code}: ${JSON.stringify(q.transcript.trim().split('\n').slice(-4).join(' | '))}`);
        assert.notEqual(exit.code, 0, q.transcript);
        assert.match(q.transcript, /6676/);
        if (tool.namesPortHolder) assert.match(q.transcript, /node|pid/i, 'names the process holding the port');
      } finally {
        holder();
      }
    } finally {
      stop();
    }
  });

  // (3) several forwards, one 2FA ----------------------------------------------------------
  forEachTool('w3', '-L a -L b -D c mahuika: three forwards, one password + TOTP', async (tool) => {
    const s = need();
    const stopA = await server('login', 6666, '127.0.0.1', 'svc-a');
    const stopB = await server('login', 6667, '127.0.0.1', 'svc-b');
    try {
      const before = s.authCounts('lander');
      const p = await login(tool, ['-N', '-L', '5601:localhost:6666', '-L', '5602:localhost:6667', '-D', '5603', 'mahuika']);
      try {
        await waitUntil('all three listening', () => [5601, 5602, 5603].every((x) => s.listening('laptop').has(x)), 15_000, () => p.transcript);
        const a = await connect(5601);
        const b = await connect(5602);
        const d = await s.exec('laptop', ['node', '-e', SOCKS_CLIENT, '5603', 'localhost', '6667'], { user: true });
        assert.match(a.out, /svc-a/, a.out);
        assert.match(b.out, /svc-b/, b.out);
        assert.equal(d.code, 0, d.stdout + d.stderr);
        assert.match(d.stdout, /svc-b/);
        assert.equal(count(p.transcript, 'Password:'), 1, p.transcript);
        assert.equal(count(p.transcript, 'Second Factor:'), 1, p.transcript);
        assert.equal(s.authCounts('lander').accepted, before.accepted + 1, 'one login to lander for three forwards');

        // A second command to the same destination while the first runs. Neither OpenSSH
        // (without ControlMaster) nor burrow shares a session across processes yet (for
        // burrow that comes with the agent): the second process logs in again, i.e. asks
        // for a second password + TOTP. The config's LocalForward 6676 is already held by
        // the first process, hence ExitOnForwardFailure=no.
        const q = await login(tool, ['-N', '-o', 'ExitOnForwardFailure=no', '-L', '5604:localhost:6666', 'mahuika']);
        try {
          await waitUntil('laptop:5604 listening', () => s.listening('laptop').has(5604), 15_000, () => q.transcript);
          const c = await connect(5604);
          assert.match(c.out, /svc-a/, `${c.out}\n${q.transcript}`);
          const lander = s.authCounts('lander').accepted - before.accepted;
          console.log(`# w3 ${tool.name}: a second process while the first runs asks again (Password: ${count(q.transcript, 'Password:')}, Second Factor: ${count(q.transcript, 'Second Factor:')}); lander logins for both: ${lander} — no cross-process sharing (burrow: comes with the agent)`);
          assert.equal(count(q.transcript, 'Password:'), 1, q.transcript);
          assert.equal(count(q.transcript, 'Second Factor:'), 1, q.transcript);
          assert.equal(lander, 2, 'the second process is a second login to lander');
          // the first process is unaffected
          assert.match((await connect(5601)).out, /svc-a/);
          assert.equal(count(p.transcript, 'Password:'), 1, p.transcript);
        } finally {
          await stopTool(q);
        }
      } finally {
        await stopTool(p);
      }
    } finally {
      stopA();
      stopB();
    }
  });

  // (4) the article's MobaXterm case: two tunnels (lander → mahuika:22, mahuika → itself) --
  // OpenSSH needs two commands (the first tunnel carries the second's SSH connection);
  // burrow does it as one: ProxyJump through lander, -L on mahuika, no config alias needed.
  forEachTool('w4', 'MobaXterm case: lander→mahuika and mahuika→itself (burrow: one command)', async (tool) => {
    const s = need();
    const stop = await server('login', 6666, '127.0.0.1', 'hello-from-login-6666');
    const before = s.authCounts('lander');
    const beforeLogin = s.authCounts('login');
    const procs: Pty[] = [];
    try {
      if (tool.name === 'openssh') {
        // Tunnel 1: laptop:2222 → (lander) → mahuika:22; tunnel 2 through it: laptop:5556 → mahuika's localhost:6666.
        const t1 = await login(tool, ['-N', '-L', `2222:${s.addr.login}:22`, 'lander']);
        procs.push(t1);
        await waitUntil('laptop:2222 listening', () => s.listening('laptop').has(2222), 15_000, () => t1.transcript);
        const t2 = s.pty('laptop', tool.argv(['-N', '-o', 'BatchMode=yes', '-o', 'HostKeyAlias=mahuika', '-p', '2222', '-L', '5556:localhost:6666', 'localhost']), { timeoutMs: 15_000 });
        procs.push(t2);
      } else {
        procs.push(await login(tool, ['-N', '-J', 'lander', '-L', '5556:localhost:6666', s.addr.login]));
      }
      await waitUntil('laptop:5556 listening', () => s.listening('laptop').has(5556), 15_000, () => procs.map((p) => p.transcript).join('\n---\n'));
      const r = await connect(5556);
      assert.equal(r.code, 0, `${r.out}\n${procs.map((p) => p.transcript).join('\n---\n')}`);
      assert.match(r.out, /hello-from-login-6666/);
      const prompts = procs.reduce((n, p) => n + count(p.transcript, 'Second Factor:'), 0);
      console.log(`# w4 ${tool.name}: ${procs.length} command(s), ${prompts} TOTP prompt(s), lander logins ${s.authCounts('lander').accepted - before.accepted}, login logins ${s.authCounts('login').accepted - beforeLogin.accepted}`);
      if (tool.name === 'burrow') assert.equal(procs.length, 1);
      assert.equal(prompts, 1);
      assert.equal(s.authCounts('lander').accepted, before.accepted + 1);
      assert.equal(s.authCounts('login').accepted, beforeLogin.accepted + 1);
    } finally {
      for (const p of procs.reverse()) await stopTool(p);
      stop();
    }
    await waitUntil('laptop:5556 released', () => !s.listening('laptop').has(5556), 5000);
  });

  // (5) compute node: reverse tunnel from a Slurm job, port free after scancel ----------------
  forEachTool('w5', 'job on c1 opens ssh -Nf -R 6676 to the login node; laptop reaches it; port free after scancel', async (tool) => {
    const s = need();
    const script = [
      '#!/bin/bash',
      '#SBATCH --time 00:15:00',
      '#SBATCH --nodelist c1',
      `node -e ${shellQuote(SERVER)} 6676 127.0.0.1 "hello-from-$(hostname)" &`,
      'for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6676) 2>/dev/null && break; sleep 0.1; done',
      'ssh -Nf -R 6676:localhost:6676 ${SLURM_SUBMIT_HOST}',
      'echo "tunnel up from $(hostname) to ${SLURM_SUBMIT_HOST}"',
      'sleep 600',
      '',
    ].join('\n');
    const jobFile = '/home/burrowtest/jobs/w5.sh';
    const w = await s.exec('login', ['tee', jobFile], { user: true, input: script });
    assert.equal(w.code, 0, w.stderr);
    const sub = await s.exec('login', ['sbatch', '--parsable', '--output', '/home/burrowtest/jobs/w5.out', jobFile], { user: true });
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim().split(';')[0] ?? '';
    let cancelled = false;
    try {
      await waitUntil('login:6676 bound by the job\'s reverse tunnel', () => s.listening('login').has(6676), 20_000, () =>
        `${s.slurmLog('c1')}\n${s.authLog('login')}`,
      );
      const p = await login(tool, ['-N', 'mahuika']);
      try {
        await waitUntil('laptop:6676 listening', () => s.listening('laptop').has(6676), 15_000, () => p.transcript);
        const r = await connect(6676);
        assert.equal(r.code, 0, `${r.out}\n${p.transcript}`);
        assert.match(r.out, /hello-from-c1/);

        const t0 = Date.now();
        const c = await s.exec('login', ['scancel', id], { user: true });
        assert.equal(c.code, 0, c.stderr);
        cancelled = true;
        await waitUntil('login:6676 free after scancel', () => !s.listening('login').has(6676), 10_000);
        const freedMs = Date.now() - t0;
        const stale = await connect(6676);
        console.log(`# w5 ${tool.name}: login:6676 free ${freedMs} ms after scancel (proctrack/cgroup); laptop:6676 still listening=${s.listening('laptop').has(6676)}, a connection through it: ${stale.code === 0 ? 'works' : `fails (${stale.out || 'closed'})`}`);
        await sleep(500);
        console.log(`# w5 ${tool.name}: what the user sees after the stale connection: ${JSON.stringify(p.transcript.trim().split('\n').slice(-3).join(' | ').slice(-400))}`);
        assert.ok(freedMs < 5000, `port freed after ${freedMs} ms`);
        assert.notEqual(stale.code, 0, 'the stale forward no longer reaches the job');
      } finally {
        await stopTool(p);
      }
    } finally {
      if (!cancelled) await s.exec('login', ['scancel', id]);
    }
  });

  // (6) wrong password / wrong TOTP: one attempt, clear error, no retry loop ----------------
  // Through the article's `ProxyCommand ssh -W %h:%p lander` the lander prompts come from
  // the OpenSSH child; through `ProxyJump` (mahuika-pj) from the tool itself.
  for (const dest of ['mahuika', 'mahuika-pj'] as const) {
    for (const which of ['password', 'totp'] as const) {
      forEachTool(dest === 'mahuika' ? 'w6' : 'w6pj', `wrong ${which} (${dest}): one failed attempt in lander's log, clear error, no retry`, async (tool) => {
        const s = need();
        const before = s.authCounts('lander');
        const answers = which === 'password' ? { password: 'not-the-password' } : { totp: await s.wrongTotp() };
        const p = await login(tool, ['-N', '-L', '5555:localhost:6666', dest], answers);
        await waitUntil("the failure in lander's log", () => s.authCounts('lander').failed > before.failed, 10_000, () => s.authLog('lander'));
        if (tool.retriesAuth) {
          // OpenSSH asks again (NumberOfPasswordPrompts, default 3): each further answer is
          // another failed attempt against the jump host. Measure, then give up.
          await p.waitFor('Password:', 5000);
          console.log(`# w6 ${tool.name} ${dest}: after a wrong ${which} OpenSSH prompts again (retry loop against the jump host)`);
          await p.close();
        } else {
          const exit = await p.wait(6000);
          console.log(`# w6 ${tool.name} ${dest}: wrong ${which} → exit ${exit.code}: ${JSON.stringify(p.transcript.slice(-300))}`);
          assert.notEqual(exit.code, 0);
          assert.equal(count(p.transcript, 'Password:'), 1, p.transcript);
          assert.equal(count(p.transcript, 'Second Factor:'), 1, p.transcript);
          assert.match(p.transcript, /permission denied|authentication failed/i);
          assert.doesNotMatch(p.transcript, /\n\s+at /, 'no stack trace');
        }
        await sleep(300);
        const after = s.authCounts('lander');
        assert.equal(after.failed, before.failed + 1, s.authLog('lander'));
        assert.equal(after.accepted, before.accepted);
      });
    }
  }

  // (7) lander's host key changed ------------------------------------------------------------
  // Through ProxyCommand the jump host's key is checked by the OpenSSH child; through
  // ProxyJump by the tool itself.
  for (const dest of ['mahuika', 'mahuika-pj'] as const) {
    forEachTool(dest === 'mahuika' ? 'w7' : 'w7pj', `lander's host key changed (${dest}): refused before any prompt, naming the known_hosts line`, async (tool) => {
      const s = need();
      await s.changeHostKey('lander');
      try {
        const p = s.pty('laptop', tool.argv(['-N', '-L', '5555:localhost:6666', dest]), { timeoutMs: 15_000 });
        const exit = await p.wait(15_000);
        console.log(`# w7 ${tool.name} ${dest}: exit ${exit.code}: ${JSON.stringify(p.transcript.trim().split('\n').slice(-3).join(' | ').slice(-300))}`);
        assert.notEqual(exit.code, 0, p.transcript);
        assert.doesNotMatch(p.transcript, /Password:/);
        assert.match(p.transcript, /known_hosts:1\b/, p.transcript);
      } finally {
        await s.restoreHostKey('lander');
      }
    });
  }
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
