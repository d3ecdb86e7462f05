#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script).
import { main } from '../dist/cli/main.js';

// Exit explicitly: a WebGPU instance lives as long as the process and would keep node running.
process.exit(await main(process.argv.slice(2)));
