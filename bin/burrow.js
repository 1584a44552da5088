#!/usr/bin/env -S node --single-threaded
// --single-threaded: V8 compiles and collects on the main thread, not on helper threads
// that compete with the traffic for the cores (src/runtime/v8-threads.ts).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2));
