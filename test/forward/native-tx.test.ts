/** Channel writes sealed in one native call each, the pump off: see native-send.ts. */
process.env.BURROW_NO_PUMP = '1';
const { nativeSendTests } = await import('./native-send.js');
nativeSendTests('seal');
