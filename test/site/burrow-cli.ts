// Runs burrow's CLI from source (through tsx) for the site workflows when dist/ is missing
// or older than src/: `node --import <tsx> test/site/burrow-cli.ts ARGS...`.
import { main } from '../../src/cli/main.js';

await main(process.argv.slice(2));
