import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { VmLaunchSpec } from "../../port.js";

/** The fake binaries, as files the driver can be pointed at. */
export const FAKE_FIRECRACKER = fileURLToPath(new URL("./fake-firecracker.mjs", import.meta.url));
export const FAKE_JAILER = fileURLToPath(new URL("./fake-jailer.mjs", import.meta.url));

export interface FakeHost {
  dir: string;
  record: string;
  jailerBin: string;
  firecrackerBin: string;
  spec(vmId: string, over?: Partial<VmLaunchSpec>): Promise<VmLaunchSpec>;
  dispose(): Promise<void>;
}

/**
 * A temp "machine" for the driver against the fakes: an image dir (kernel, initrd), run dirs
 * with their disks, a record file, and a `jailer` wrapper script that sets the fake's
 * behaviour (`env`) and execs the fake jailer (same pid, as a real binary would be).
 * Directories are world-traversable: the fake jailer drops to the VM's uid without chroot(2).
 */
export async function fakeHost(env: Record<string, string> = {}): Promise<FakeHost> {
  const dir = await mkdtemp(join(tmpdir(), "oneshot-fc-"));
  await chmod(dir, 0o755);
  const images = join(dir, "images");
  await mkdir(images, { mode: 0o755 });
  await writeFile(join(images, "vmlinux"), "fake kernel", { mode: 0o644 });
  await writeFile(join(images, "initrd.img"), "fake initrd", { mode: 0o644 });
  const record = join(dir, "record.jsonl");
  await writeFile(record, "");
  await chmod(record, 0o666);
  const jailerBin = join(dir, "jailer");
  const exports = Object.entries({ FAKE_FC_RECORD: record, ...env })
    .map(([k, v]) => `export ${k}='${v}'`)
    .join("\n");
  await writeFile(jailerBin, `#!/bin/sh\n${exports}\nexec '${process.execPath}' '${FAKE_JAILER}' "$@"\n`, { mode: 0o755 });
  return {
    dir,
    record,
    jailerBin,
    firecrackerBin: FAKE_FIRECRACKER,
    async spec(vmId, over = {}) {
      const runDir = join(dir, "run", vmId);
      await mkdir(runDir, { recursive: true, mode: 0o755 });
      await chmod(join(dir, "run"), 0o755);
      await writeFile(join(runDir, "root.raw"), "root disk", { mode: 0o600 });
      await writeFile(join(runDir, "config.ext4"), "config disk", { mode: 0o600 });
      return {
        vmId,
        arch: "amd64",
        vcpus: 2,
        memMiB: 512,
        kernel: join(images, "vmlinux"),
        initrd: join(images, "initrd.img"),
        rootDisk: join(runDir, "root.raw"),
        configDisk: join(runDir, "config.ext4"),
        runDir,
        consoleLog: join(runDir, "console.log"),
        consoleMaxBytes: 1 << 20,
        accel: "kvm",
        ...over,
      };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
