/** Lone packets written straight to the socket, whole: see direct-write.ts. */
const { directWriteTests } = await import('./direct-write.js');
directWriteTests(false);
