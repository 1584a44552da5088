#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=32
// V8 heap sizes for a forwarder (bench/README.md, 2026-12-03): a 1 MiB young generation
// (V8 grows it to 16 MiB) keeps a download's short-lived objects in the caches and the
// process ~20 MiB smaller; a 32 MiB first old-space limit spares the few full collections
// the smaller young generation would bring. `env -S` passes the flags (GNU, BSD and macOS
// env; `node bin/burrow.js` runs without them).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2));
