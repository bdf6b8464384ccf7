import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exec } from "../host/exec.js";
import { buildConfigDrive, configDriveFiles, markerKeyPresent } from "./config-drive.js";
import { MARKER_KEY_BLOCK } from "./marker-auth.js";
import { ensureRootDisk } from "./root-disk.js";

const has = async (bin: string) => (await exec("sh", ["-c", `command -v ${bin}`])).code === 0;
const tools = (await has("mkfs.ext4")) && (await has("debugfs")) && (await has("qemu-img"));
if (!tools) process.stderr.write("SKIP (disks): needs mkfs.ext4, debugfs and qemu-img (apt-get install e2fsprogs qemu-utils)\n");

describe.skipIf(!tools)("VM disks (real mkfs.ext4 and qemu-img)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oneshot-hostd-disks-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cat = async (image: string, path: string) => (await exec("debugfs", ["-R", `cat ${path}`, image])).stdout;

  it("builds an ext4 config drive labelled oneshot-cfg plus the marker key block past its end, with the secrets only inside the image", async () => {
    const image = join(dir, "config.ext4");
    const launch = { argv: ["/opt/runner/run"], env: { RUNNER_TOKEN: "s3cr3t" }, user: "runner" as const };
    const key = Buffer.alloc(32, 0xab);
    await buildConfigDrive(exec, image, configDriveFiles({ source: "runner", jobId: "job-7", hostname: "oneshot-x", timeoutSec: 60, launch }), key);
    // The filesystem ends where the key block begins: the guest's ext4 never sees the key.
    const fsBlocks = Number(/Block count:\s+(\d+)/.exec((await exec("dumpe2fs", ["-h", image])).stdout)?.[1]);
    const blockSize = Number(/Block size:\s+(\d+)/.exec((await exec("dumpe2fs", ["-h", image])).stdout)?.[1]);
    expect(fsBlocks * blockSize).toBe(statSync(image).size - MARKER_KEY_BLOCK);
    expect(
      readFileSync(image)
        .subarray(-MARKER_KEY_BLOCK, -MARKER_KEY_BLOCK + 87)
        .toString(),
    ).toBe(`oneshot-marker-key-v1 ${"ab".repeat(32)}\n`);
    expect(await markerKeyPresent(image)).toBe(true);
    expect((await exec("e2label", [image])).stdout.trim()).toBe("oneshot-cfg");
    expect(await cat(image, "/oneshot/version")).toBe("2\n");
    expect(await cat(image, "/oneshot/kind")).toBe("runner\n");
    expect(await cat(image, "/oneshot/launch/argv")).toBe("/opt/runner/run\n");
    expect(await cat(image, "/oneshot/launch/env")).toBe("RUNNER_TOKEN=s3cr3t\n");
    expect((await exec("debugfs", ["-R", "stat /oneshot/launch/env", image])).stdout).toMatch(/Mode:\s+0600/);
    expect(statSync(image).mode & 0o777).toBe(0o600);
    // The staging directory is gone: the plaintext exists on the host only inside the image.
    expect((await exec("ls", ["-A", dir])).stdout.trim()).toBe("config.ext4");
  });

  it("makes a qcow2 overlay on the raw base once (measure, then act)", async () => {
    const base = join(dir, "base.ext4");
    writeFileSync(base, Buffer.alloc(4 * 1024 * 1024));
    const path = join(dir, "root.qcow2");
    expect(await ensureRootDisk(exec, { base, path, format: "qcow2", diskGiB: 2 })).toBe("created");
    expect(await ensureRootDisk(exec, { base, path, format: "qcow2", diskGiB: 2 })).toBe("present");
    const info = JSON.parse((await exec("qemu-img", ["info", "--output=json", path])).stdout) as {
      format: string;
      "backing-filename": string;
      "virtual-size": number;
    };
    expect(info).toMatchObject({ format: "qcow2", "backing-filename": base, "virtual-size": 2 * 1024 ** 3 });
  });

  it("makes a sparse raw copy for raw-disk VMMs", async () => {
    const base = join(dir, "base.ext4");
    const path = join(dir, "root.raw");
    expect(await ensureRootDisk(exec, { base, path, format: "raw", diskGiB: 1 })).toBe("created");
    const st = statSync(path);
    expect(st.size).toBe(1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(64 * 1024 * 1024);
  });
});
