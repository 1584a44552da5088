/** Local sockets read and sent by native code: see native-send.ts. */
delete process.env.BURROW_NO_PUMP;
const { nativeSendTests } = await import('./native-send.js');
nativeSendTests('pump');
