import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export async function versionText(verbose: number): Promise<string> {
  const pkg = require('../../package.json') as { version: string };
  let text = `burrow ${pkg.version} (node ${process.version})\n`;
  if (verbose > 0) {
    const { cryptoStatus } = await import('../ssh/crypto-status.js');
    const s = cryptoStatus();
    const { tuneAllocator } = await import('../ssh/malloc-tune.js');
    text += `allocator tuning (native/malloc-tune): ${tuneAllocator() ? 'on' : 'off (not built, or not glibc)'}\n`;
    const { nativeRxAvailable } = await import('../ssh/native-rx.js');
    const { nativeTxAvailable } = await import('../ssh/native-tx.js');
    const { pumpAvailable } = await import('../ssh/native-pump.js');
    const onOff = (on: boolean, env: string): string => (on ? 'on' : `off (${env}=1, or not built)`);
    text += `AES-GCM in native code: receive loop (native/rx-loop) ${onOff(nativeRxAvailable, 'BURROW_NO_NATIVE_RX')}; send (native/tx-seal) ${onOff(nativeTxAvailable, 'BURROW_NO_NATIVE_TX')}; upload pump (native/tx-pump) ${onOff(pumpAvailable, nativeTxAvailable ? 'BURROW_NO_PUMP' : 'BURROW_NO_NATIVE_TX')}\n`;
    const { singleThreaded, SINGLE_THREADED } = await import('../runtime/v8-threads.js');
    text += `V8 helper threads: ${singleThreaded() ? `off (${SINGLE_THREADED}, from the #! line of bin/burrow.js)` : `on (node started without ${SINGLE_THREADED}: run bin/burrow.js itself, not node bin/burrow.js)`}\n`;
    text += `ssh2 ${s.ssh2Version}; native crypto binding: ${s.nativeBinding ? 'in use' : 'MISSING (slow JS crypto; install a compiler and reinstall)'}; channel window patch: ${s.windowPatch ? 'applied' : 'NOT applied (run npm ci)'}\n`;
  }
  return text;
}
