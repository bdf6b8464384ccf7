/** Jailer ids are `[a-zA-Z0-9-]{1,64}` (docs/jailer.md); ours are `oneshot-<vmId>`. */
export const JAIL_ID_RE = /^[a-zA-Z0-9-]{1,64}$/;
const PREFIX = "oneshot-";

/** The jailer id of a VM. Throws on a vmId the jailer would refuse (checked before any I/O). */
export function jailId(vmId: string): string {
  const id = `${PREFIX}${vmId}`;
  if (!JAIL_ID_RE.test(id)) throw new RangeError(`vm id ${JSON.stringify(vmId)} cannot form a jailer id (${JAIL_ID_RE})`);
  return id;
}

/**
 * The VM id of a process command line of ours: the jailer's argv before exec, or Firecracker's
 * after (the jailer passes `--id` on), else undefined (pure).
 */
export function vmIdOfCmdline(argv: readonly string[]): string | undefined {
  const i = argv.indexOf("--id");
  const id = i >= 0 ? argv[i + 1] : undefined;
  if (!id || !JAIL_ID_RE.test(id) || !id.startsWith(PREFIX) || id.length === PREFIX.length) return undefined;
  return id.slice(PREFIX.length);
}
