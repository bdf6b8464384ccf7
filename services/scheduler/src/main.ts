// Placeholder until the scheduler service lands.
process.stderr.write("oneshot-scheduler: not implemented yet\n");
process.exit(1);
