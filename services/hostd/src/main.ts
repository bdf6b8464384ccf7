// Placeholder until the hostd service lands.
process.stderr.write("oneshot-hostd: not implemented yet\n");
process.exit(1);
