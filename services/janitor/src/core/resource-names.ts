import type { HostInventory, ResourceKind } from "@oneshot/proto";

/**
 * oneshot's naming (docs/event-flow.md): tap `os-<vmId>`, VMM `-name oneshot-<vmId>` (hostd
 * reports the vmId), nft rule comment `oneshot:<vmId>`, run dir `<state>/hostd/vms/<vmId>/`
 * with the VM's disks inside. Anything that does not parse here is not ours and is never
 * put in a reclaim request, whatever an inventory says.
 */
const VM_ID = /^[a-z0-9]{1,12}$/;
const TAP = /^os-([a-z0-9]{1,12})$/;
const NFT = /^oneshot:([a-z0-9]{1,12})$/;
/** `…/vms/<vmId>` as the last segment (a run dir). */
const RUN_DIR = /\/vms\/([a-z0-9]{1,12})\/?$/;
/** `…/vms/<vmId>/<file>` (a disk inside a run dir). */
const DISK = /\/vms\/([a-z0-9]{1,12})\/[^/]+$/;

export interface ObservedResource {
  kind: ResourceKind;
  /** As hostd reported it (VM id, tap name, path, nft comment): what a reclaim names. */
  name: string;
  vmId: string;
}

/** Stable key of a resource on one host: `kind:name`. */
export const resourceKey = (r: { kind: ResourceKind; name: string }): string => `${r.kind}:${r.name}`;

/** An absolute, normalised path: no `.`/`..` segments, no doubled slashes. */
const cleanPath = (p: string): boolean =>
  p.startsWith("/") &&
  !p
    .split("/")
    .slice(1)
    .some((s) => s === "" || s === "." || s === "..");

/** The VM id a resource name belongs to, or undefined when the name is not oneshot's. */
export function vmIdOf(kind: ResourceKind, name: string): string | undefined {
  switch (kind) {
    case "vm":
      return VM_ID.test(name) ? name : undefined;
    case "tap":
      return TAP.exec(name)?.[1];
    case "nft":
      return NFT.exec(name)?.[1];
    case "rundir":
      return cleanPath(name.replace(/\/$/, "")) ? RUN_DIR.exec(name)?.[1] : undefined;
    case "disk":
      return cleanPath(name) ? DISK.exec(name)?.[1] : undefined;
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** Every resource of an inventory named like ours; the rest is dropped here, once. */
export function resourcesOf(inv: HostInventory["data"]): ObservedResource[] {
  const out: ObservedResource[] = [];
  const add = (kind: ResourceKind, name: string) => {
    const vmId = vmIdOf(kind, name);
    if (vmId) out.push({ kind, name, vmId });
  };
  for (const vm of inv.vms) add("vm", vm.vmId);
  for (const t of inv.taps) add("tap", t);
  for (const d of inv.disks) add("disk", d);
  for (const n of inv.nftRules) add("nft", n);
  for (const r of inv.runDirs) add("rundir", r);
  return out;
}
