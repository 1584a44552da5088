// Preloaded into every test file's process (and the runner's) by run-tests.mjs: stdout
// writes block until written. A test file's report goes to the runner through a pipe;
// Node writes to a pipe without blocking, and what the pipe cannot take at once waits
// in the process. --test-force-exit ends the file without writing that out, and Node
// 20's runner, left with half a message, spins forever at full CPU (a failure message
// of megabytes did this here; the same loop as nodejs/node#62693).
process.stdout._handle?.setBlocking?.(true);
