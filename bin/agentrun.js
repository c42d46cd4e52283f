#!/usr/bin/env node
// The agentrun CLI (src/cli/main.ts). Node runs its TypeScript directly from 22.18 on.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`agentrun: Node ${process.versions.node} is too old: the CLI needs Node 22.18 or newer (./dev installs Node 24 in .tools/node/bin)\n`);
  process.exit(3);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
