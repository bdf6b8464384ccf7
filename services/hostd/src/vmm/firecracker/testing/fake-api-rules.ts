import { existsSync } from "node:fs";
import { join } from "node:path";

/**
 * Firecracker's API as its swagger spec (src/firecracker/swagger/firecracker.yaml) describes
 * it, for the fake: request validation (required fields, types, unknown fields refused),
 * and the order rules (pre-boot resources only before InstanceStart, InstanceStart only with
 * a boot source, one root drive). Paths the guest opens are checked to exist under `root`,
 * the chroot the fake jailer "entered". Pure apart from those existence checks.
 */
export interface FakeVmState {
  id: string;
  root: string;
  started: boolean;
  machine: { vcpu_count: number; mem_size_mib: number; smt: boolean };
  bootSource?: Record<string, unknown>;
  drives: Map<string, Record<string, unknown>>;
  ifaces: Map<string, Record<string, unknown>>;
  logger?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  mmds?: unknown;
}

export type Action = "InstanceStart" | "SendCtrlAltDel" | "FlushMetrics" | "DriveUpdated";
export interface Reply {
  status: number;
  body?: unknown;
  /** Set on an accepted action: what the process should now do. */
  action?: Action;
  /** DriveUpdated: which drive. */
  driveId?: string;
}

export const newState = (id: string, root: string): FakeVmState => ({
  id,
  root,
  started: false,
  machine: { vcpu_count: 1, mem_size_mib: 128, smt: false },
  drives: new Map(),
  ifaces: new Map(),
});

const fault = (fault_message: string): Reply => ({ status: 400, body: { fault_message } });
const ok: Reply = { status: 204 };

type Kind = "string" | "boolean" | "integer" | "object" | "array";
type Shape = Record<string, { kind: Kind; required?: boolean }>;

function check(body: unknown, shape: Shape): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "The request body is not a JSON object.";
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!(k in shape)) return `unknown field \`${k}\``;
  for (const [k, s] of Object.entries(shape)) {
    const v = b[k];
    if (v === undefined) {
      if (s.required) return `missing field \`${k}\``;
      continue;
    }
    const good =
      s.kind === "integer"
        ? Number.isInteger(v) && (v as number) >= 0
        : s.kind === "array"
          ? Array.isArray(v)
          : s.kind === "object"
            ? typeof v === "object" && v !== null
            : typeof v === s.kind;
    if (!good) return `invalid type for field \`${k}\`: expected ${s.kind}`;
  }
  return undefined;
}

const PRE_BOOT = "The requested operation is not supported after starting the microVM.";
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function handle(st: FakeVmState, method: string, path: string, body: unknown): Reply {
  const exists = (p: unknown) => typeof p === "string" && p.startsWith("/") && existsSync(join(st.root, p));
  if (method === "GET" && path === "/")
    return { status: 200, body: { id: st.id, state: st.started ? "Running" : "Not started", vmm_version: "1.10.1-fake", app_name: "Firecracker" } };
  if (method === "GET" && path === "/machine-config") return { status: 200, body: st.machine };
  const [, resource, sub] = /^\/([a-z-]+)(?:\/([^/]+))?$/.exec(path) ?? [];
  // PATCH /drives/{id}: after boot only (swagger: "Updates the properties of a drive"), the
  // drive must exist; a new path_on_host is reopened (and its size read again).
  if (method === "PATCH" && resource === "drives" && sub) {
    if (!st.started) return fault("The requested operation is not supported before starting the microVM.");
    const bad = check(body, { drive_id: { kind: "string", required: true }, path_on_host: { kind: "string" }, rate_limiter: { kind: "object" } });
    if (bad) return fault(bad);
    const b = body as { drive_id: string; path_on_host?: string };
    if (b.drive_id !== sub) return fault("The id from the path does not match the id from the body!");
    const drive = st.drives.get(b.drive_id);
    if (!drive) return fault(`Invalid block device ID: ${b.drive_id}`);
    if (b.path_on_host !== undefined && !exists(b.path_on_host))
      return fault(`Unable to patch the block device: No such file or directory (os error 2): ${b.path_on_host}`);
    st.drives.set(b.drive_id, { ...drive, ...(b.path_on_host !== undefined ? { path_on_host: b.path_on_host } : {}) });
    return { ...ok, action: "DriveUpdated", driveId: b.drive_id };
  }
  if (method !== "PUT") return fault("Invalid request method and/or path.");
  const preBoot = (f: () => Reply): Reply => (st.started ? fault(PRE_BOOT) : f());
  switch (resource) {
    case "machine-config":
      return preBoot(() => {
        const bad = check(body, {
          vcpu_count: { kind: "integer", required: true },
          mem_size_mib: { kind: "integer", required: true },
          smt: { kind: "boolean" },
          track_dirty_pages: { kind: "boolean" },
          cpu_template: { kind: "string" },
        });
        if (bad) return fault(bad);
        const b = body as { vcpu_count: number; mem_size_mib: number; smt?: boolean };
        const smt = b.smt ?? false;
        if (b.vcpu_count < 1 || b.vcpu_count > 32 || (smt && b.vcpu_count > 1 && b.vcpu_count % 2 !== 0))
          return fault("The vCPU number is invalid: it should be between 1 and 32 (and even when SMT is enabled).");
        if (b.mem_size_mib < 1) return fault("The memory size (MiB) is invalid.");
        st.machine = { vcpu_count: b.vcpu_count, mem_size_mib: b.mem_size_mib, smt };
        return ok;
      });
    case "boot-source":
      return preBoot(() => {
        const bad = check(body, { kernel_image_path: { kind: "string", required: true }, initrd_path: { kind: "string" }, boot_args: { kind: "string" } });
        if (bad) return fault(bad);
        const b = body as Record<string, unknown>;
        if (!exists(b.kernel_image_path)) return fault(`Cannot open kernel image: No such file or directory (os error 2): ${String(b.kernel_image_path)}`);
        if (b.initrd_path !== undefined && !exists(b.initrd_path))
          return fault(`Cannot open initrd file: No such file or directory (os error 2): ${String(b.initrd_path)}`);
        st.bootSource = b;
        return ok;
      });
    case "drives":
      return preBoot(() => {
        const bad = check(body, {
          drive_id: { kind: "string", required: true },
          path_on_host: { kind: "string", required: true },
          is_root_device: { kind: "boolean", required: true },
          is_read_only: { kind: "boolean" },
          cache_type: { kind: "string" },
          partuuid: { kind: "string" },
          rate_limiter: { kind: "object" },
          io_engine: { kind: "string" },
        });
        if (bad) return fault(bad);
        const b = body as { drive_id: string; path_on_host: string; is_root_device: boolean; cache_type?: string };
        if (b.drive_id !== sub) return fault("The id from the path does not match the id from the body!");
        if (b.cache_type !== undefined && b.cache_type !== "Unsafe" && b.cache_type !== "Writeback") return fault(`invalid cache_type ${b.cache_type}`);
        if (!exists(b.path_on_host)) return fault(`Unable to create the block device: No such file or directory (os error 2): ${b.path_on_host}`);
        if (b.is_root_device && [...st.drives.values()].some((d) => d.is_root_device && d.drive_id !== b.drive_id))
          return fault("A root block device already exists!");
        st.drives.set(b.drive_id, b);
        return ok;
      });
    case "network-interfaces":
      return preBoot(() => {
        const bad = check(body, {
          iface_id: { kind: "string", required: true },
          host_dev_name: { kind: "string", required: true },
          guest_mac: { kind: "string" },
          rx_rate_limiter: { kind: "object" },
          tx_rate_limiter: { kind: "object" },
        });
        if (bad) return fault(bad);
        const b = body as { iface_id: string; guest_mac?: string };
        if (b.iface_id !== sub) return fault("The id from the path does not match the id from the body!");
        if (b.guest_mac !== undefined && !MAC.test(b.guest_mac)) return fault(`Invalid MAC address: ${b.guest_mac}`);
        st.ifaces.set(b.iface_id, b);
        return ok;
      });
    case "mmds":
      if (sub === "config") {
        return preBoot(() => {
          const bad = check(body, { network_interfaces: { kind: "array", required: true }, version: { kind: "string" }, ipv4_address: { kind: "string" } });
          if (bad) return fault(bad);
          const ids = (body as { network_interfaces: unknown[] }).network_interfaces;
          if (ids.some((i) => typeof i !== "string" || !st.ifaces.has(i)))
            return fault("The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface.");
          return ok;
        });
      }
      if (sub !== undefined) return fault("Invalid request method and/or path.");
      st.mmds = body;
      return ok;
    case "logger":
    case "metrics":
      return preBoot(() => {
        const bad =
          resource === "logger"
            ? check(body, {
                log_path: { kind: "string", required: true },
                level: { kind: "string" },
                show_level: { kind: "boolean" },
                show_log_origin: { kind: "boolean" },
                module: { kind: "string" },
              })
            : check(body, { metrics_path: { kind: "string", required: true } });
        if (bad) return fault(bad);
        const b = body as Record<string, unknown>;
        const file = resource === "logger" ? b.log_path : b.metrics_path;
        if (!exists(file)) return fault(`Failed to open target file: No such file or directory (os error 2): ${String(file)}`);
        if (resource === "logger" && b.level !== undefined && !["Error", "Warning", "Info", "Debug", "Trace", "Off"].includes(b.level as string))
          return fault(`Invalid log level: ${String(b.level)}`);
        if (resource === "logger") st.logger = b;
        else st.metrics = b;
        return ok;
      });
    case "actions": {
      const bad = check(body, { action_type: { kind: "string", required: true } });
      if (bad) return fault(bad);
      const a = (body as { action_type: string }).action_type;
      if (a === "InstanceStart") {
        if (st.started) return fault(PRE_BOOT);
        if (!st.bootSource) return fault("Cannot start microvm without kernel configuration.");
        st.started = true;
        return { ...ok, action: a };
      }
      if (a === "SendCtrlAltDel") return st.started ? { ...ok, action: a } : fault("The requested operation is not supported before starting the microVM.");
      if (a === "FlushMetrics") return st.metrics ? { ...ok, action: a } : fault("The metrics system is not initialized.");
      return fault(`unknown variant \`${a}\`, expected one of \`FlushMetrics\`, \`InstanceStart\`, \`SendCtrlAltDel\``);
    }
    default:
      return fault("Invalid request method and/or path.");
  }
}
