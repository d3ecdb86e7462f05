#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script).
import { main } from '../dist/cli/main.js';

// A reader that stops early (`inspect ... | head`) closes the pipe: what is left unread is
// dropped, without a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
const code = await main(process.argv.slice(2));
// Writes to a pipe are asynchronous: wait until stdout and stderr have handed everything to
// the reader (a write's callback runs after the writes before it), or `inspect | less` would
// lose all but the first 64 KiB.
await Promise.all(
  [process.stdout, process.stderr].map((s) => new Promise((done) => s.write('', done))),
);
// Then exit explicitly: a WebGPU instance lives as long as the process and would keep node running.
process.exit(code);
