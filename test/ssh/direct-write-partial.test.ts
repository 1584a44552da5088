/** Lone packets written straight to the socket 7 bytes at most, the rest by Node: see direct-write.ts. */
process.env.BURROW_DIRECT_WRITE_CAP = '7';
const { directWriteTests } = await import('./direct-write.js');
directWriteTests(true);
