#!/usr/bin/env node
// Installed entry point: runs the built CLI (`pnpm build` first). From the repo, use `pnpm diffprune`.
await import('../dist/cli.js');
