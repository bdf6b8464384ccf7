import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { JobSpec } from "@oneshot/proto";
import { z } from "zod";

/**
 * A VM's run dir `<state>/hostd/vms/<vmId>/` (docs/event-flow.md) holds everything of one VM:
 * its record (`vm.json`), disks, console log and the driver's sockets. Its existence is
 * ownership: hostd writes the record before it claims the VM on the event log, and removes
 * the whole dir as the last destroy step.
 */
export const VmPhase = z.enum(["accepted", "booting", "running", "exited"]);
export type VmPhase = z.infer<typeof VmPhase>;

/**
 * hostd 0.1.0 wrote `local` or the name of the job's provider (any provider) here, always
 * `[a-z]+`: `local` means a script, any other name a runner launch
 * (fixtures/vm-record-0.1.0-*.json).
 */
const LaunchKind = z
  .union([z.enum(["script", "runner"]), z.string().regex(/^[a-z]{1,32}$/)])
  .transform((k): "script" | "runner" => (k === "script" || k === "local" ? "script" : "runner"));

export const VmRecord = z.object({
  vmId: z.string(),
  jobId: z.string(),
  /** The hostd that owns it (two hostds may share a state dir on one machine). */
  hostId: z.string(),
  attempt: z.number().int().nonnegative(),
  /** Where the launch comes from (config-drive.ts LaunchSource); older records: see LaunchKind. */
  kind: LaunchKind,
  /** `runner` launches, once the broker answered: for logs only (never the launch itself: it may hold a secret). */
  provider: z.string().max(32).optional(),
  runnerName: z.string().max(256).optional(),
  spec: JobSpec,
  /** `script` launches: the script from JobScheduled (records of older placements without it: read from the job's JobQueued). */
  script: z.string().optional(),
  correlationId: z.string(),
  /** Id of the JobScheduled this VM runs. */
  scheduledEventId: z.string(),
  phase: VmPhase,
  acceptedAt: z.string(),
  startedAt: z.string().optional(),
  net: z.object({ address: z.string(), mac: z.string(), tap: z.string() }).optional(),
  /** Ids of the VM events already stored (type → envelope id): the causation chain, and what a restart must not repeat. */
  events: z.record(z.string(), z.string()).default({}),
});
export type VmRecord = z.infer<typeof VmRecord>;

export const vmsDir = (stateDir: string): string => join(stateDir, "hostd", "vms");
export const runDirOf = (stateDir: string, vmId: string): string => join(vmsDir(stateDir), vmId);

export const runFiles = (runDir: string, rootFormat: "qcow2" | "raw") => ({
  record: join(runDir, "vm.json"),
  rootDisk: join(runDir, `root.${rootFormat}`),
  configDisk: join(runDir, "config.ext4"),
  consoleLog: join(runDir, "console.log"),
});

/** Disk files a run dir may hold, whatever the driver (inventory and reclaim). */
export const DISK_FILE = /^(root\.(qcow2|raw)|config\.ext4)$/;

export async function writeRecord(runDir: string, rec: VmRecord): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const path = join(runDir, "vm.json");
  await writeFile(`${path}.tmp`, JSON.stringify(rec, null, 2), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The record, or undefined when the dir has none (or an unreadable one: a crash mid-write). */
export async function readRecord(runDir: string): Promise<VmRecord | undefined> {
  const raw = await readFile(join(runDir, "vm.json"), "utf8").catch(() => undefined);
  if (!raw) return undefined;
  try {
    return VmRecord.parse(JSON.parse(raw));
  } catch {
    return undefined;
  }
}

/** VM ids that have a run dir (any owner). */
export async function listRunDirs(stateDir: string): Promise<string[]> {
  const entries = await readdir(vmsDir(stateDir), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && /^[a-z0-9]{1,12}$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

export async function removeRunDir(runDir: string): Promise<boolean> {
  const existed = await readdir(runDir).then(
    () => true,
    () => false,
  );
  await rm(runDir, { recursive: true, force: true });
  return existed;
}
