import { chmod, mkdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run, type Exec } from "../host/exec.js";
import type { VmNet } from "../net/vm-address.js";

/** The runner config a GitHub/GitLab job needs inside the guest (plaintext: config drive only). */
export type RunnerSecret = { kind: "github"; jitConfig: string } | { kind: "gitlab"; url: string; token: string };

export interface ConfigDriveInput {
  kind: "local" | "github" | "gitlab";
  jobId: string;
  hostname: string;
  timeoutSec: number;
  /** `local` only: the job's shell script. */
  script?: string;
  env?: Record<string, string>;
  net?: VmNet;
  runner?: RunnerSecret;
}

export interface DriveFile {
  content: string;
  mode: number;
}

export class ConfigDriveError extends Error {
  override readonly name = "ConfigDriveError";
  readonly retryable = false;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The files of a config drive, per docs/guest-contract.md (pure). Paths are under `/oneshot/`. */
export function configDriveFiles(i: ConfigDriveInput): Record<string, DriveFile> {
  if (!/^[a-z0-9-]{1,63}$/.test(i.hostname)) throw new ConfigDriveError(`hostname ${JSON.stringify(i.hostname)}: must be 1-63 chars of [a-z0-9-]`);
  if (i.kind === "local" && i.script === undefined) throw new ConfigDriveError("a local job needs a script");
  if (i.kind !== "local" && i.runner?.kind !== i.kind) throw new ConfigDriveError(`a ${i.kind} job needs a ${i.kind} runner config`);
  const file = (content: string, mode = 0o644): DriveFile => ({ content, mode });
  const files: Record<string, DriveFile> = {
    version: file("1\n"),
    kind: file(`${i.kind}\n`),
    "job-id": file(`${i.jobId}\n`),
    hostname: file(`${i.hostname}\n`),
    "timeout-sec": file(`${Math.max(1, Math.floor(i.timeoutSec))}\n`),
  };
  if (i.kind === "local") files.script = file(i.script!);
  const env = Object.entries(i.env ?? {});
  if (env.length) {
    for (const [k, v] of env) {
      if (!ENV_KEY.test(k)) throw new ConfigDriveError(`env name ${JSON.stringify(k)} is not a shell variable name`);
      if (/[\r\n\0]/.test(v)) throw new ConfigDriveError(`env ${k}: values are one line (no newline or NUL)`);
    }
    files.env = file(env.map(([k, v]) => `${k}=${v}\n`).join(""));
  }
  if (i.net) files.net = file(`address=${i.net.address}/${i.net.prefix}\ngateway=${i.net.gateway}\ndns=${i.net.dns}\n`);
  if (i.runner?.kind === "github") files["runner/jitconfig"] = file(`${i.runner.jitConfig}\n`, 0o600);
  if (i.runner?.kind === "gitlab") {
    files["runner/gitlab-url"] = file(`${i.runner.url}\n`, 0o600);
    files["runner/gitlab-token"] = file(`${i.runner.token}\n`, 0o600);
  }
  return files;
}

/** Image size: 1 MiB of ext4 overhead plus twice the content, in whole MiB. */
export function configDriveBytes(files: Record<string, DriveFile>): number {
  const content = Object.values(files).reduce((n, f) => n + Buffer.byteLength(f.content) + 1024, 0);
  const mib = 1024 * 1024;
  return Math.ceil((mib + 2 * content) / mib) * mib;
}

/**
 * Writes the drive image (ext4, label `oneshot-cfg`, read-only for the guest) at `image`.
 * The files are staged next to it in a 0700 directory that is removed right after, so a
 * runner secret exists on the host only inside the image. Measure, then act: an existing
 * image is rebuilt (its content may be from an attempt that crashed mid-way).
 */
export async function buildConfigDrive(exec: Exec, image: string, files: Record<string, DriveFile>): Promise<void> {
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
    await chmod(image, 0o400);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Whether a drive image exists with a plausible size (the step's own check). */
export async function configDriveExists(image: string): Promise<boolean> {
  return stat(image).then((s) => s.size >= 1024 * 1024, () => false);
}
