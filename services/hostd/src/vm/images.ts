import { access, readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Arch } from "@oneshot/proto";

/** One bootable guest image (docs/guest-contract.md "Artifacts"). */
export interface GuestImage {
  name: string;
  arch: Arch;
  kernel: string;
  initrd: string;
  rootfs: string;
  kernelVersion?: string;
  /** Extra kernel args the image asks for (manifest `kernelCmdline`), never job-specific. */
  kernelCmdline?: string;
}

interface Manifest {
  arch?: string;
  name?: string;
  image?: string;
  kernelVersion?: string;
  kernelCmdline?: string;
}

const exists = (p: string) => access(p).then(() => true, () => false);

/**
 * Images for `arch` under `dir`: `<dir>/<arch>/` is the `minimal` image (or the name its
 * manifest gives), and `<dir>/<name>/<arch>/` any other named image. An image counts only
 * when kernel, initrd, root filesystem and manifest are all there.
 */
export async function findImages(dir: string, arch: Arch, names: string[] = []): Promise<GuestImage[]> {
  const base = isAbsolute(dir) ? dir : resolve(dir);
  const candidates: [string, string][] = [["minimal", join(base, arch)], ...names.filter((n) => n !== "minimal").map((n): [string, string] => [n, join(base, n, arch)])];
  const found: GuestImage[] = [];
  for (const [fallbackName, d] of candidates) {
    const files = { kernel: join(d, "vmlinuz"), initrd: join(d, "initrd.img"), rootfs: join(d, "rootfs.ext4"), manifest: join(d, "manifest.json") };
    if (!(await Promise.all(Object.values(files).map(exists))).every(Boolean)) continue;
    let m: Manifest = {};
    try {
      m = JSON.parse(await readFile(files.manifest, "utf8")) as Manifest;
    } catch {
      continue;
    }
    if (m.arch && m.arch !== arch) continue;
    found.push({
      name: m.name ?? m.image ?? fallbackName, arch, kernel: files.kernel, initrd: files.initrd, rootfs: files.rootfs,
      ...(m.kernelVersion ? { kernelVersion: m.kernelVersion } : {}),
      ...(m.kernelCmdline ? { kernelCmdline: m.kernelCmdline } : {}),
    });
  }
  return found;
}
