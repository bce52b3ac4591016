#!/usr/bin/env node
// Launcher: the CLI is TypeScript run by Node's type stripping and needs JSPI, both Node >= 24.
// This file is plain JavaScript so an older Node reaches the version check instead of a parse error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `error: cirrus needs Node.js 24 or newer (this is ${process.version}).\n` +
      '  hint: run it through npm in the project (npm start, npx cirrus …) to use the pinned Node 24, or install Node 24.\n',
  );
  process.exit(1);
}
await import('../src/bin.ts');
