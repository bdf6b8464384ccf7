import { appendFile, chmod, mkdir, open, rm, stat, truncate, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { RunnerLaunch } from "@oneshot/proto";
import { run, type Exec } from "../host/exec.js";
import type { VmNet } from "../net/vm-address.js";
import { MARKER_KEY_BLOCK, markerKeyTrailer } from "./marker-auth.js";

/** Where the agent mounts the drive: a local job's launch names its script by this path. */
export const GUEST_DRIVE_DIR = "/run/oneshot/cfg/oneshot";

/**
 * Where a VM's launch comes from: `script` (inline, JobScheduled.script) or `runner` (the
 * broker's RunnerLaunch, whatever the provider). Only the console marker and logs show it.
 */
export type LaunchSource = "script" | "runner";

export interface ConfigDriveInput {
  source: LaunchSource;
  jobId: string;
  hostname: string;
  timeoutSec: number;
  /** What the guest runs. Its env may hold a secret: it goes only to `launch/env` (0600). */
  launch: RunnerLaunch;
  /** `script` only: the job's shell script (`oneshot/script`, run by the launch's argv). */
  script?: string;
  /** hostd's own, non-secret variables (ONESHOT_*), exported before the launch's env. */
  env?: Record<string, string>;
  net?: VmNet;
}

export interface DriveFile {
  content: string;
  mode: number;
}

export class ConfigDriveError extends Error {
  override readonly name = "ConfigDriveError";
  readonly retryable = false;
}

/** Config drive layout version (docs/guest-contract.md). */
export const CONFIG_DRIVE_VERSION = 2;

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A local job's launch: its inline script, run by /bin/sh as root. */
export function scriptLaunch(): RunnerLaunch {
  return { argv: ["/bin/sh", `${GUEST_DRIVE_DIR}/script`], env: {}, user: "root" };
}

/** `NAME=value` lines; values one line (the agent reads the rest of the line verbatim). */
function envLines(what: string, env: Record<string, string>): string {
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_KEY.test(k)) throw new ConfigDriveError(`${what} name ${JSON.stringify(k)} is not a shell variable name`);
    // Never the value in the message: it may be the runner's secret.
    if (/[\r\n\0]/.test(v)) throw new ConfigDriveError(`${what} ${k}: values are one line (no newline or NUL)`);
  }
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join("");
}

/**
 * `launch/argv`: one argument per line. Chosen over NUL separation because busybox `read`
 * cannot split on NUL; an argument with a newline (or NUL) is refused here instead, and
 * an empty one cannot be represented (RunnerLaunch forbids it too).
 */
function argvLines(argv: string[]): string {
  if (!argv.length) throw new ConfigDriveError("launch argv is empty");
  argv.forEach((a, i) => {
    if (a === "") throw new ConfigDriveError(`launch argv[${i}] is empty`);
    if (/[\n\0]/.test(a)) throw new ConfigDriveError(`launch argv[${i}] holds a newline or NUL (one argument per line)`);
  });
  return argv.map((a) => `${a}\n`).join("");
}

/** The files of a config drive, per docs/guest-contract.md (pure). Paths are under `/oneshot/`. */
export function configDriveFiles(i: ConfigDriveInput): Record<string, DriveFile> {
  if (!/^[a-z0-9-]{1,63}$/.test(i.hostname)) throw new ConfigDriveError(`hostname ${JSON.stringify(i.hostname)}: must be 1-63 chars of [a-z0-9-]`);
  if (i.source === "script" && i.script === undefined) throw new ConfigDriveError("a script launch needs a script");
  if (i.source === "runner" && i.script !== undefined) throw new ConfigDriveError("a runner launch has no inline script");
  if (i.launch.user !== "runner" && i.launch.user !== "root") throw new ConfigDriveError(`launch user must be runner or root`);
  const file = (content: string, mode = 0o644): DriveFile => ({ content, mode });
  const files: Record<string, DriveFile> = {
    version: file(`${CONFIG_DRIVE_VERSION}\n`),
    kind: file(`${i.source}\n`),
    "job-id": file(`${i.jobId}\n`),
    hostname: file(`${i.hostname}\n`),
    "timeout-sec": file(`${Math.max(1, Math.floor(i.timeoutSec))}\n`),
    "launch/argv": file(argvLines(i.launch.argv)),
    "launch/env": file(envLines("launch env", i.launch.env), 0o600),
    "launch/user": file(`${i.launch.user}\n`),
  };
  if (i.script !== undefined) files.script = file(i.script);
  if (i.env && Object.keys(i.env).length) files.env = file(envLines("env", i.env));
  if (i.net) files.net = file(`address=${i.net.address}/${i.net.prefix}\ngateway=${i.net.gateway}\ndns=${i.net.dns}\n`);
  return files;
}

/** Image size: 1 MiB of ext4 overhead plus twice the content, in whole MiB. */
export function configDriveBytes(files: Record<string, DriveFile>): number {
  const content = Object.values(files).reduce((n, f) => n + Buffer.byteLength(f.content) + 1024, 0);
  const mib = 1024 * 1024;
  return Math.ceil((mib + 2 * content) / mib) * mib;
}

/**
 * Writes the drive image at `image`: an ext4 filesystem (label `oneshot-cfg`) followed by one
 * 4 KiB block outside it holding the VM's marker key (marker-auth.ts). The guest gets the drive
 * writable only so the agent can erase that block; the filesystem it mounts read-only.
 * The files are staged next to it in a 0700 directory that is removed right after, so a
 * runner secret exists on the host only inside the image. Measure, then act: an existing
 * image is rebuilt (its content may be from an attempt that crashed mid-way).
 */
export async function buildConfigDrive(exec: Exec, image: string, files: Record<string, DriveFile>, markerKey: Buffer): Promise<void> {
  const stage = join(dirname(image), ".config-stage");
  await rm(stage, { recursive: true, force: true });
  await rm(image, { force: true });
  try {
    await mkdir(join(stage, "oneshot"), { recursive: true, mode: 0o700 });
    for (const [rel, f] of Object.entries(files)) {
      const path = join(stage, "oneshot", rel);
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await writeFile(path, f.content, { mode: f.mode });
      await chmod(path, f.mode);
    }
    await writeFile(image, "", { mode: 0o600 });
    await truncate(image, configDriveBytes(files));
    await run(exec, "mkfs.ext4", ["-q", "-F", "-L", "oneshot-cfg", "-d", stage, "-E", "root_owner=0:0", "-O", "^has_journal", "-m", "0", "-N", "64", image]);
    // After mkfs: the filesystem took the file's size, so the key block is past its end.
    await appendFile(image, markerKeyTrailer(markerKey));
    await chmod(image, 0o600);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The last 4 KiB of a drive image: where the marker key block sits (marker-auth.ts). */
export async function readKeyBlock(image: string): Promise<Buffer> {
  const fh = await open(image, "r");
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(MARKER_KEY_BLOCK);
    await fh.read(buf, 0, buf.length, size - MARKER_KEY_BLOCK);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Whether the key block of a drive image is still there (false once the agent erased it). */
export async function markerKeyPresent(image: string): Promise<boolean> {
  return (await readKeyBlock(image)).some((b) => b !== 0);
}

/** Whether a drive image exists with a plausible size (the step's own check). */
export async function configDriveExists(image: string): Promise<boolean> {
  return stat(image).then(
    (s) => s.size >= 1024 * 1024,
    () => false,
  );
}
