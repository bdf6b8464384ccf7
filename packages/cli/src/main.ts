#!/usr/bin/env node
// Placeholder until the CLI lands.
process.stderr.write("oneshot: not implemented yet\n");
process.exit(1);
