/**
 * Establishing a session's connection: the transport (TCP, ProxyCommand, or a channel
 * through the previous ProxyJump hop), then the SSH handshake with host-key checking
 * and authentication. Every failure becomes a BurrowError with the phase it arose in.
 */
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import { defaultAlgorithms, KINDS, type AlgorithmKind } from '../config/ssh-config/algorithms.js';
import type { ResolvedHost } from '../config/types.js';
import { BurrowError, isBurrowError } from '../errors.js';
import { createAuth } from './auth.js';
import { createHostVerifier, preferredHostKeyAlgorithms, type HostKeyPolicy } from './hostkeys/index.js';
import { installNativeTx } from './native-tx.js';
import { connectTcp, destroyHop, spawnProxyCommand, type Transport } from './transport.js';
import type { SessionOptions } from './session.js';

const { Client } = ssh2;

/** Opens the byte stream the SSH connection runs over. */
export async function openTransport(opts: SessionOptions): Promise<Transport> {
  const { config } = opts;
  if (opts.via) {
    const via = opts.via;
    const stream = await via.openTcp({ host: config.hostname, port: config.port }, { host: '127.0.0.1', port: 0 }, { signal: opts.signal }).catch((e: unknown) => {
      throw new BurrowError('CONNECT_FAILED', `jump host ${via.destination} could not reach ${config.hostname} port ${config.port}`, { phase: 'connect', cause: e });
    });
    const describe = `${config.hostname} port ${config.port} via ${via.destination}`;
    // The inner connection's channels are flow-controlled end to end: the hop's own
    // window is not tuned but opened wide (`[carrier]`, patches/README.md).
    (stream as Duplex & { ssh2Carrier?: boolean }).ssh2Carrier = true;
    const carried = opts.carryHop?.(stream, describe);
    if (carried) return carried;
    const dispose = () => destroyHop(stream);
    stream.once('end', dispose); // the far end's sshd hung up (the hop sends EOF, waits for our close): an SSH transport never half-closes
    // A channel's writableLength counts each byte until ssh2 has copied it into the hop's
    // packets: the inner connection may cut its packets from reused memory (patches/README.md).
    (stream as Duplex & { ssh2ReuseWrites?: boolean }).ssh2ReuseWrites = true;
    return { stream, describe, dispose };
  }
  if (config.proxyCommand) return spawnProxyCommand(config.proxyCommand, opts.proxyStderr);
  return connectTcp(config, opts.signal);
}

/** Runs the SSH handshake over `transport`; resolves once authenticated. */
export async function handshake(opts: SessionOptions, transport: Transport, onAuthenticating: () => void): Promise<InstanceType<typeof Client>> {
  const { config, prompter } = opts;
  const log = opts.log ?? (() => {});
  const canAsk = prompter && !config.batchMode;
  const policy: HostKeyPolicy = {
    host: config.hostname,
    port: config.port,
    hostKeyAlias: config.hostKeyAlias,
    userKnownHostsFiles: config.userKnownHostsFiles,
    globalKnownHostsFiles: config.globalKnownHostsFiles,
    strict: config.batchMode && config.strictHostKeyChecking === 'ask' ? 'yes' : config.strictHostKeyChecking,
    ask: canAsk ? (q: string) => prompter.ask(q, { echo: true }) : undefined,
    onWarning: (m: string) => prompter?.info(m),
  };
  const verifier = createHostVerifier(policy);
  // Offer the key types known_hosts already has for this host first, as OpenSSH does.
  const serverHostKey = await preferredHostKeyAlgorithms(policy);
  // A question the person cancelled ends the login at once, with nothing sent for it.
  let cancelLogin = (_e: BurrowError): void => {};
  const auth = createAuth({
    config,
    prompter: canAsk ? prompter : undefined,
    password: opts.password,
    agent: opts.agent,
    log,
    warn: (message) => opts.bus?.emit({ type: 'warning', message, code: 'IDENTITY_FILE' }),
    onCancelled: (e) => cancelLogin(e),
  });
  installNativeTx();
  const client = new Client();
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: BurrowError) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(e);
    };
    cancelLogin = fail;
    const onAbort = () => fail(new BurrowError('ABORTED', 'connection aborted', { phase: 'connect', cause: opts.signal?.reason }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    client.once('handshake', onAuthenticating);
    client.once('ready', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      settled = true;
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (verifier.error) return fail(verifier.error);
      if (err.level === 'client-authentication') {
        const allowed = auth.serverMethods.join(',') || 'unknown';
        if (auth.neededPrompt && !canAsk) {
          return fail(new BurrowError('AUTH_NEEDS_TTY', `${config.user}@${config.alias}: the server asks for a password or one-time code (${allowed}) and there is no terminal to ask on${config.batchMode ? ' (BatchMode is on)' : ''}; run burrow in a terminal or set up a key`, { phase: 'auth', cause: err }));
        }
        const tried = auth.tried.length ? auth.tried.join(', ') : 'nothing it accepts';
        return fail(new BurrowError('AUTH_FAILED', `${config.user}@${config.alias}: permission denied (tried ${tried}; server allows ${allowed}). Not retrying, to avoid locking the account.`, { phase: 'auth', cause: err, details: { tried: auth.tried, allowed: auth.serverMethods } }));
      }
      if (err.level === 'client-timeout') {
        return fail(new BurrowError('CONNECT_TIMEOUT', `${config.alias}: timed out during the SSH handshake`, { phase: 'handshake', cause: err }));
      }
      const streamErr = transport.stream.errored;
      if (isBurrowError(streamErr)) return fail(streamErr);
      const hint = noMatchHint(err.message, config);
      fail(new BurrowError('CONNECT_FAILED', `connection to ${config.alias} (${transport.describe}) failed during the SSH handshake: ${err.message}${hint}`, { phase: 'handshake', cause: err }));
    });
    client.on('close', () => {
      if (verifier.error) return fail(verifier.error);
      const streamErr = transport.stream.errored;
      if (isBurrowError(streamErr)) return fail(streamErr);
      fail(new BurrowError('CONNECT_FAILED', `connection to ${config.alias} (${transport.describe}) closed during the SSH handshake`, { phase: 'handshake' }));
    });
    client.connect({
      sock: transport.stream,
      username: config.user,
      hostVerifier: verifier.verify,
      authHandler: auth.handler,
      // A person may be typing a second factor: the handshake timeout must allow for it.
      readyTimeout: canAsk ? 10 * 60_000 : (config.connectTimeout ?? 30) * 1000,
      // Liveness is the Session's Keepalive (any data counts), not ssh2's (only ping replies).
      keepaliveInterval: 0,
      algorithms: {
        serverHostKey,
        ...(config.ciphers && { cipher: config.ciphers as never }),
        ...(config.macs && { hmac: config.macs as never }),
        ...(config.kexAlgorithms && { kex: config.kexAlgorithms as never }),
      },
    });
  });
}

/**
 * For ssh2's "Handshake failed: no matching C->S cipher" (or MAC, or key exchange): what
 * burrow offered and which setting chose it, as ssh names the setting to look at.
 */
function noMatchHint(message: string, config: ResolvedHost): string {
  const m = /no matching (?:\S+ )?(cipher|MAC|key exchange)/.exec(message);
  const kind = (Object.keys(KINDS) as AlgorithmKind[]).find((k) => KINDS[k].noun === m?.[1]);
  if (kind === undefined) return '';
  const offered = { cipher: config.ciphers, mac: config.macs, kex: config.kexAlgorithms }[kind] ?? defaultAlgorithms(kind);
  return ` (burrow offered ${offered.join(',')}; check ${KINDS[kind].keyword}${kind === 'cipher' ? ' or -c' : ''})`;
}
