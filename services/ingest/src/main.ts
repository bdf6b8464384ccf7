// Placeholder until the ingest service lands.
process.stderr.write("oneshot-ingest: not implemented yet\n");
process.exit(1);
