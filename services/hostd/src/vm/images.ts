import { access, readFile, readdir } from "node:fs/promises";
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

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * The images under `dir` for `arch`, as the build scripts write them (docs/guest-contract.md
 * "Artifacts"): `<dir>/<arch>/{vmlinuz,initrd.img,rootfs.ext4,manifest.json}` is the base
 * image (`minimal`, or the name its manifest gives), and every
 * `<dir>/<arch>/{rootfs-<name>.ext4,manifest-<name>.json}` pair another image booted with the
 * same kernel and initrd (images/build-full.sh writes `full` so). An image counts only when
 * all its files are there and its manifest parses; the base image comes first (the KVM probe
 * boots it), the others by name. HostRegistered.images is exactly this list's names.
 */
export async function findImages(dir: string, arch: Arch): Promise<GuestImage[]> {
  const d = join(isAbsolute(dir) ? dir : resolve(dir), arch);
  const kernel = join(d, "vmlinuz");
  const initrd = join(d, "initrd.img");
  if (!(await exists(kernel)) || !(await exists(initrd))) return [];
  const entries = await readdir(d).catch(() => [] as string[]);
  const extra = entries
    .map((f) => /^rootfs-([a-z0-9][a-z0-9-]{0,63})\.ext4$/.exec(f)?.[1])
    .filter((n): n is string => !!n)
    .sort();
  const candidates: { fallbackName: string; rootfs: string; manifest: string }[] = [
    { fallbackName: "minimal", rootfs: join(d, "rootfs.ext4"), manifest: join(d, "manifest.json") },
    ...extra.map((n) => ({ fallbackName: n, rootfs: join(d, `rootfs-${n}.ext4`), manifest: join(d, `manifest-${n}.json`) })),
  ];
  const found: GuestImage[] = [];
  for (const c of candidates) {
    if (!(await exists(c.rootfs)) || !(await exists(c.manifest))) continue;
    let m: Manifest;
    try {
      m = JSON.parse(await readFile(c.manifest, "utf8")) as Manifest;
    } catch {
      continue;
    }
    if (m.arch && m.arch !== arch) continue;
    const name = m.name ?? m.image ?? c.fallbackName;
    if (found.some((i) => i.name === name)) continue;
    found.push({
      name,
      arch,
      kernel,
      initrd,
      rootfs: c.rootfs,
      ...(m.kernelVersion ? { kernelVersion: m.kernelVersion } : {}),
      ...(m.kernelCmdline ? { kernelCmdline: m.kernelCmdline } : {}),
    });
  }
  return found;
}
