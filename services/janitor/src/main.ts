// Placeholder until the janitor service lands.
process.stderr.write("oneshot-janitor: not implemented yet\n");
process.exit(1);
