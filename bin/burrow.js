#!/usr/bin/env -S node --single-threaded
// --single-threaded: V8 compiles and collects on the main thread, not on helper threads
// that compete with the traffic for the cores (src/runtime/v8-threads.ts).
//
// CommonJS (bin/package.json), loading the CLI, an ES module, with require() where node
// does so without a warning: node's ES-module entry loads more of node's own modules,
// which start slower under the flag above (~7 ms of `burrow --help`; bench/HISTORY.md,
// session 42). Elsewhere, and should the CLI ever need an asynchronous load, import().
'use strict';

const CLI = '../dist/cli/main.js';

function requireQuietly() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return (major === 20 && minor >= 19) || (major === 22 && minor >= 13) || (major === 23 && minor >= 5) || major >= 24;
}

function loadCli() {
  if (!requireQuietly()) return import(CLI);
  try {
    return Promise.resolve(require(CLI));
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) return import(CLI);
    throw e;
  }
}

loadCli().then((cli) => cli.main(process.argv.slice(2)));
