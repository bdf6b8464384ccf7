import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { placeFile, removeChroot } from "./chroot-io.js";

// Owner = this process, so no root is needed; the chown to another uid is proven (as root)
// by driver.int.test.ts.
const me = { uid: process.getuid!(), gid: process.getgid!() };
const OTHER_FS = "/dev/shm";
const noOtherFs = existsSync(OTHER_FS)
  ? undefined
  : (process.stderr.write(`SKIP (EXDEV copy): ${OTHER_FS} missing, no second filesystem to copy from\n`), "no tmpfs");

describe("placing files into a chroot", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "oneshot-fc-chroot-"));
    await mkdir(join(dir, "root"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("hard-links a file on the same filesystem (same inode), replacing a stale one", async () => {
    const from = join(dir, "root.raw");
    await writeFile(from, "disk");
    const onHost = join(dir, "root", "root.raw");
    await writeFile(onHost, "stale from a crashed start");
    expect(await placeFile({ from, onHost, inChroot: "/root.raw", shared: false }, me)).toBe("link");
    expect((await stat(onHost)).ino).toBe((await stat(from)).ino);
  });

  it.skipIf(noOtherFs)("copies across filesystems (EXDEV)", async () => {
    const other = await mkdtemp(join(OTHER_FS, "oneshot-fc-"));
    try {
      const from = join(other, "vmlinux");
      await writeFile(from, "kernel", { mode: 0o644 });
      const onHost = join(dir, "root", "vmlinux");
      expect(await placeFile({ from, onHost, inChroot: "/vmlinux", shared: true }, me)).toBe("copy");
      expect((await stat(onHost)).ino).not.toBe((await stat(from)).ino);
      expect((await stat(onHost)).mode & 0o777).toBe(0o400);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("copies a shared file that not everyone may read instead of linking (and later chowning) it", async () => {
    const from = join(dir, "initrd.img");
    await writeFile(from, "initrd");
    await chmod(from, 0o600);
    const onHost = join(dir, "root", "initrd.img");
    expect(await placeFile({ from, onHost, inChroot: "/initrd.img", shared: true }, me)).toBe("copy");
    expect((await stat(onHost)).ino).not.toBe((await stat(from)).ino);
  });

  it("removeChroot removes the jail and the VM's cgroup dir, and is idempotent", async () => {
    const jailDir = join(dir, "fc-jail", "firecracker", "oneshot-x");
    await mkdir(join(jailDir, "root", "run"), { recursive: true });
    const cg = join(dir, "cgroup");
    await mkdir(join(cg, "oneshot-x"), { recursive: true });
    await removeChroot({ jailDir, jailId: "oneshot-x" }, cg);
    expect(existsSync(jailDir)).toBe(false);
    expect(existsSync(join(cg, "oneshot-x"))).toBe(false);
    await removeChroot({ jailDir, jailId: "oneshot-x" }, cg);
  });
});
