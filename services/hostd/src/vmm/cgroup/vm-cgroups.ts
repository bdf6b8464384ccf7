import { access, mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cgroup2Mount, vmCgroupLeaf, vmCgroupLimits } from "./cgroup-plan.js";

/** What this machine's cgroup v2 lets hostd do, measured once at start. */
export type CgroupSupport =
  { kind: "limits"; parentDir: string } | { kind: "membership-only"; parentDir: string; reason: string } | { kind: "unavailable"; reason: string };

export class CgroupError extends Error {
  override readonly name = "CgroupError";
  readonly retryable = false;
  constructor(
    readonly vmId: string,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`vm ${vmId}: cgroup ${path}: ${message}`, options);
  }
}

const NEEDED = ["cpu", "memory"] as const;

/**
 * hostd's cgroup v2 parent and the VMs' leaves under it (measure, then act; every step
 * repeatable). `detect` finds the v2 mount, makes the parent and enables cpu+memory for its
 * children where the hierarchy offers them; where it does not (a hybrid host whose cpu and
 * memory controllers are bound to v1), leaves still group each VMM's processes (and
 * `cgroup.kill` ends them all) but carry no limits, and `support` says why.
 */
export class VmCgroups {
  private constructor(readonly support: CgroupSupport) {}

  static async detect(o: { parent: string; mountsText?: string; root?: string }): Promise<VmCgroups> {
    const root = o.root ?? cgroup2Mount(o.mountsText ?? (await readFile("/proc/self/mounts", "utf8").catch(() => "")));
    if (!root) return new VmCgroups({ kind: "unavailable", reason: "no cgroup2 filesystem mounted" });
    const parentDir = join(root, o.parent);
    try {
      await mkdir(parentDir, { recursive: true });
    } catch (e) {
      return new VmCgroups({ kind: "unavailable", reason: `cannot create ${parentDir}: ${(e as Error).message}` });
    }
    const offered = (await readFile(join(root, "cgroup.controllers"), "utf8").catch(() => "")).trim().split(/\s+/);
    const missing = NEEDED.filter((c) => !offered.includes(c));
    if (missing.length) {
      return new VmCgroups({
        kind: "membership-only",
        parentDir,
        reason: `cgroup v2 at ${root} offers no ${missing.join("/")} controller (bound to cgroup v1 on this host?)`,
      });
    }
    // Each level down to the parent hands cpu and memory to its children (idempotent writes).
    try {
      const levels = [
        root,
        ...o.parent
          .split("/")
          .filter(Boolean)
          .map((_, i, a) => join(root, ...a.slice(0, i + 1))),
      ];
      for (const dir of levels) {
        const on = (await readFile(join(dir, "cgroup.subtree_control"), "utf8")).trim().split(/\s+/);
        const add = NEEDED.filter((c) => !on.includes(c));
        if (add.length) await writeFile(join(dir, "cgroup.subtree_control"), add.map((c) => `+${c}`).join(" "));
      }
    } catch (e) {
      return new VmCgroups({ kind: "membership-only", parentDir, reason: `cannot enable cpu/memory under ${parentDir}: ${(e as Error).message}` });
    }
    return new VmCgroups({ kind: "limits", parentDir });
  }

  /** The leaf of a VM, or undefined when cgroups are unavailable. */
  leafDir(vmId: string): string | undefined {
    return this.support.kind === "unavailable" ? undefined : join(this.support.parentDir, vmCgroupLeaf(vmId));
  }

  /** Creates the VM's leaf with its limits (when the hierarchy has them); returns the leaf. */
  async create(vmId: string, vcpus: number, memMiB: number, overheadMiB: number): Promise<string | undefined> {
    const dir = this.leafDir(vmId);
    if (!dir) return undefined;
    await mkdir(dir, { recursive: true }).catch((e: Error) => {
      throw new CgroupError(vmId, dir, `cannot create: ${e.message}`, { cause: e });
    });
    if (this.support.kind === "limits") {
      for (const [file, value] of Object.entries(vmCgroupLimits(vcpus, memMiB, overheadMiB))) {
        await writeFile(join(dir, file), value).catch((e: Error) => {
          throw new CgroupError(vmId, dir, `cannot set ${file}=${value}: ${e.message}`, { cause: e });
        });
      }
    }
    return dir;
  }

  /**
   * Removes a VM's leaf: kills what is left in it (a VMM that outlived its stop), waits for it
   * to empty, then rmdir. Absent already → nothing to do.
   */
  async remove(vmId: string, timeoutMs = 5_000): Promise<"removed" | "absent"> {
    const dir = this.leafDir(vmId);
    if (
      !dir ||
      !(await access(dir).then(
        () => true,
        () => false,
      ))
    )
      return "absent";
    const deadline = Date.now() + timeoutMs;
    for (let tries = 0; ; tries++) {
      const procs = (await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "")).trim();
      if (procs && tries === 0) await writeFile(join(dir, "cgroup.kill"), "1").catch(() => undefined);
      try {
        await rmdir(dir);
        return "removed";
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return "absent";
        if (code !== "EBUSY" || Date.now() > deadline) throw new CgroupError(vmId, dir, `cannot remove: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
