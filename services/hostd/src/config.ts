import { hostname } from "node:os";
import { BaseEnv, envBool, envInt } from "@oneshot/runtime";
import { z } from "zod";
import { EgressEnv } from "./egress/egress-env.js";
import { MirrorEnv } from "./mirror/mirror-env.js";

/** `a,b , c` → ["a","b","c"]; empty → []. */
const csv = z.string().transform((s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean),
);

/** The machine's hostname as a host id (subject token): anything else becomes `-`. */
export const defaultHostId = (): string =>
  hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 64) || "host";

/**
 * `HOSTD_WARM_POOLS`: `<image>/<vcpus>/<memMiB>/<diskGiB>=<count>`, comma-separated, e.g.
 * `minimal/1/512/1=2,full/4/8192/20=1`; empty = no warm pools. The arch is the host's.
 */
export const WarmPoolsEnv = z.string().transform((s, ctx) => {
  const pools: { image: string; vcpus: number; memMiB: number; diskGiB: number; size: number }[] = [];
  for (const item of s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]{1,64})\/(\d{1,4})\/(\d{2,8})\/(\d{1,6})=(\d{1,3})$/.exec(item);
    if (!m) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${item}" is not <image>/<vcpus>/<memMiB>/<diskGiB>=<count> (e.g. minimal/1/512/1=2)` });
      return z.NEVER;
    }
    const [vcpus, memMiB, diskGiB, size] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
    if (!vcpus || !memMiB || !diskGiB) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${item}": vCPUs, memory and disk must be positive` });
      return z.NEVER;
    }
    if (size > 0) pools.push({ image: m[1]!, vcpus, memMiB, diskGiB, size });
  }
  return pools;
});

/** hostd's configuration: environment only, parsed once at start. */
export const HostdEnv = BaseEnv.extend({
  /** This host's id (a subject token): `evt.host.<id>`, durable `hostd-<id>`. Default: the hostname. */
  HOSTD_HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 chars of [A-Za-z0-9_-]")
    .default(defaultHostId),
  /**
   * Guest arch this host offers. Default: the machine's. The other arch is allowed for testing:
   * guests then run under QEMU emulation and HostRegistered says `emulated: true`.
   */
  HOSTD_ARCH: z.enum(["amd64", "arm64"]).optional(),
  /** Port of `/healthz` and `/metrics`. */
  HOSTD_HTTP_PORT: envInt(0, 65535).default(9103),
  /** vCPUs kept for the host itself (never handed to VMs). */
  HOSTD_RESERVE_VCPUS: envInt(0, 1024).default(1),
  /** MiB of RAM kept for the host itself (page cache, hostd, QEMU's own overhead). */
  HOSTD_RESERVE_MEM_MIB: envInt(0, 16 * 1024 * 1024).default(1024),
  /** GiB of disk kept free under ONESHOT_STATE_DIR. */
  HOSTD_RESERVE_DISK_GIB: envInt(0, 1024 * 1024).default(5),
  /** Overrides of what may be handed out (after the reserve), e.g. small fake capacities in tests. */
  HOSTD_MAX_VCPUS: envInt(1, 4096).optional(),
  HOSTD_MAX_MEM_MIB: envInt(64, 64 * 1024 * 1024).optional(),
  HOSTD_MAX_DISK_GIB: envInt(1, 1024 * 1024).optional(),
  /** VMs running at once; more placements wait in hostd's queue until one ends. */
  HOSTD_MAX_CONCURRENT_VMS: envInt(1, 1024).default(8),
  /** Guest images: `<dir>/<arch>/{vmlinuz,initrd.img,rootfs.ext4,manifest.json}` (ONESHOT_IMAGE_DIR is the same). */
  HOSTD_IMAGE_DIR: z
    .string()
    .min(1)
    .default(() => process.env.ONESHOT_IMAGE_DIR ?? "images/out"),
  /** Which VMM: `auto` takes Firecracker when its driver is present and works here, else QEMU. */
  HOSTD_VMM: z.enum(["auto", "qemu", "firecracker"]).default("auto"),
  /** `auto` probes KVM for real (a probe boot); `kvm` trusts /dev/kvm without probing; `tcg` never uses KVM. */
  HOSTD_ACCEL: z.enum(["auto", "kvm", "tcg"]).default("auto"),
  /** How long the KVM probe boot may take before KVM counts as unusable (seconds). */
  HOSTD_KVM_PROBE_TIMEOUT: envInt(1, 3600).default(45),
  /** The bridge the VM taps join (created if missing); one per hostd on a machine. */
  HOSTD_BRIDGE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,15}$/, "must be a Linux interface name (1-15 chars)")
    .default("osbr0"),
  /** VM addresses; the first address is the bridge (the guests' gateway). /16 to /29. */
  HOSTD_SUBNET: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-9])$/, "must be an IPv4 CIDR from /16 to /29")
    .default("172.30.0.0/16"),
  /**
   * The DNS server guests' names are resolved by: the DNS proxy's upstream (HOSTD_DNS_PROXY=1,
   * the default; guests are told their gateway), else written to each guest's config drive as the
   * only host-network exception in the isolation rules (udp/tcp 53). Default: the host's first
   * non-loopback nameserver, else 1.1.1.1.
   */
  HOSTD_DNS: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}$/, "must be an IPv4 address")
    .optional(),
  /**
   * Routes that lead to the internet, not to the host's private side (CIDRs, comma-separated).
   * The forbidden set holds every network the host routes to besides its default route; a
   * route inside one of these is left out of it. The fixed ranges and the host's own
   * addresses and connected networks are forbidden whatever this says.
   */
  HOSTD_PUBLIC_ROUTES: csv.pipe(z.array(z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/, "must be IPv4 CIDRs"))).default([]),
  /**
   * Seconds between isolation checks: the host's networks are read again (forbidden set) and
   * the nft tables and every VM's rules measured and restored; what cannot be restored ends
   * its VMs (fail closed, VmIsolationLost). Short: a flushed ruleset is open until the next check.
   */
  HOSTD_ISOLATION_CHECK_INTERVAL: envInt(1, 3600).default(2),
  /**
   * A VM's network rate, Mbit/s, each direction (into and out of its tap). 200: a 1 GB image
   * pull takes about 40 s, and four busy VMs fill a gigabit uplink's VM share, not more.
   */
  HOSTD_NET_RATE_MBIT: envInt(1, 100_000).default(200),
  /** The most any single VM may get (a job's own request is cut down to this). */
  HOSTD_NET_MAX_RATE_MBIT: envInt(1, 100_000).default(1000),
  /**
   * All VMs of this host together, Mbit/s, each direction; 0 = no shared cap. The rest of the
   * uplink stays free for the host itself (hostd ⇄ NATS heartbeats and events): 800 leaves a
   * fifth of a gigabit NIC. Set it to about 80% of the uplink.
   */
  HOSTD_NET_TOTAL_MBIT: envInt(0, 1_000_000).default(800),
  /** Seconds between HostHeartbeat messages. */
  HOSTD_HEARTBEAT_INTERVAL: envInt(1, 3600).default(5),
  /**
   * Fence lease (docs/fencing.md): when no heartbeat has been acknowledged by JetStream for this
   * long, hostd (or, if hostd is frozen, its watchdog process) kills every VM of this host,
   * because the control side may run its jobs elsewhere. Keep it several heartbeat intervals,
   * and below JANITOR_HOST_LOST_AFTER + JANITOR_FENCE_WAIT minus a few seconds of kill time.
   * A NATS outage longer than this fences every host (a host cannot tell it from a partition).
   */
  HOSTD_FENCE_AFTER: envInt(2, 3600).default(45),
  /** Seconds between HostInventory reports (what is really on the machine). */
  HOSTD_INVENTORY_INTERVAL: envInt(1, 86400).default(15),
  /** Extra labels for HostRegistered, comma-separated (e.g. `gpu,fast-disk`). */
  HOSTD_LABELS: csv.default([]),
  /** Seconds a guest may take from VMM start to the agent's ready marker before the boot fails. */
  HOSTD_BOOT_TIMEOUT: envInt(1, 3600).default(180),
  /** Seconds past the job's own timeout before hostd kills the VM (the guest enforces the timeout first). */
  HOSTD_TIMEOUT_GRACE: envInt(0, 3600).default(30),
  /** Console log cap per VM (bytes); VmOutput stops at the cap too. */
  HOSTD_CONSOLE_MAX_BYTES: envInt(4096, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  /**
   * First uid (and gid) VMM processes run as; VM slot n runs as base+n, so two VMs never share
   * a uid. 0 keeps them root (not recommended).
   */
  HOSTD_VMM_UID_BASE: envInt(0, 2 ** 31 - 2).default(64200),
  /**
   * `1` lets QEMU VMs boot WITHOUT the seccomp sandbox when `-sandbox` cannot be applied here
   * (a QEMU build or kernel without seccomp, or a probe that failed). Default: such a boot
   * fails (VmBootFailed `no-sandbox`, with the reason). hostd logs the choice at start.
   */
  HOSTD_ALLOW_NO_SANDBOX: envBool.default(false),
  /**
   * Each VMM process in a cgroup v2 leaf of its own with cpu.max (its vCPUs) and memory.max
   * (guest RAM + the VMM's overhead). `auto`: limits where the hierarchy offers cpu and memory,
   * else leaves without limits (logged at start); `required`: a boot fails (`no-cgroup`) without
   * limits; `off`: no cgroups (QEMU; the Firecracker jailer always makes its own).
   */
  HOSTD_VMM_CGROUP: z.enum(["auto", "required", "off"]).default("auto"),
  /**
   * Warm pools (docs/warm-pool.md): per shape, how many VMs this host keeps booted with
   * nothing job-specific, so a job of exactly that shape starts without a boot. Format
   * `<image>/<vcpus>/<memMiB>/<diskGiB>=<count>`, comma-separated (`minimal/1/512/1=2`: two VMs
   * of `oneshot run`'s default shape). Their capacity is withheld from what this host
   * registers, so cold work and pools together never exceed it. Empty: no pools.
   */
  HOSTD_WARM_POOLS: WarmPoolsEnv.default([]),
  /** Seconds a ready warm VM may wait for a job before it is destroyed and replaced (clock drift, image updates). */
  HOSTD_WARM_MAX_AGE_SEC: envInt(10, 7 * 86400).default(3600),
  /** The cgroup v2 parent of the VMs' leaves, relative to the cgroup2 mount (hostd creates it). */
  HOSTD_CGROUP_PARENT: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, "must be a relative cgroup path")
    .default("oneshot.slice"),
  /** The registry mirror (docs/registry-mirror.md): HOSTD_REGISTRY_MIRROR and its settings, commented in mirror/mirror-env.ts. */
  ...MirrorEnv,
  /** Egress policies (docs/egress-policy.md): the DNS proxy and VmEgressDenied, commented in egress/egress-env.ts. */
  ...EgressEnv,
});
export type HostdConfig = z.infer<typeof HostdEnv>;
