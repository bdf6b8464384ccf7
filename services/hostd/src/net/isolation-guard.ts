import type { Logger } from "@oneshot/runtime";
import type { Nft } from "./nft.js";
import type { BaseRulesInput, VmIsolation } from "./nft-rules.js";

export interface IsolationGuardDeps {
  nft: Nft;
  /** The base tables' input minus the forbidden set, which is read again every check. */
  base: Omit<BaseRulesInput, "forbidden">;
  /** The forbidden set as the host looks now (`readForbidden`). */
  readForbidden: () => Promise<string[]>;
  /** The forbidden set the tables were built with at start. */
  initialForbidden: string[];
  /** Every VM that must be isolated right now (running, its destroy not begun). */
  vms: () => VmIsolation[];
  /**
   * Isolation cannot be restored: end every VM that `vms()` would return (QEMU/Firecracker
   * stopped at once), saying so in events. Returns the VM ids it ended.
   */
  failClosed: (reason: string) => Promise<string[]>;
  log: Logger;
  /** Attempts to restore before failing closed (default 2: one retry for a racing reload). */
  attempts?: number;
}

export interface GuardReport {
  forbidden: { added: string[]; removed: string[] };
  base: "unchanged" | "rebuilt";
  /** VMs whose rules had to be put back. */
  restored: string[];
  /** Set when isolation could not be restored and the VMs were ended. */
  failedClosed?: { reason: string; vms: string[] };
}

/**
 * Keeps isolation true while VMs run, failing closed. Each check: read the host's networks
 * again (a NIC or VPN added since is forbidden from now on), measure the tables and every
 * running VM's rules, restore what is missing or altered (one atomic transaction), measure
 * again; when the rules still are not what they must be (nft refuses, someone keeps
 * flushing), every VM that cannot be isolated is ended, not left running open.
 */
export class IsolationGuard {
  private forbidden: string[];

  constructor(private readonly d: IsolationGuardDeps) {
    this.forbidden = [...d.initialForbidden];
  }

  get currentForbidden(): readonly string[] {
    return this.forbidden;
  }

  async check(): Promise<GuardReport> {
    const { d } = this;
    const before = this.forbidden;
    try {
      this.forbidden = await d.readForbidden();
    } catch (err) {
      // The old set still stands in the tables; not a reason to end VMs, but worth a line.
      d.log.warn({ err }, "cannot read the host's networks: keeping the forbidden set as it was");
    }
    const forbidden = {
      added: this.forbidden.filter((x) => !before.includes(x)),
      removed: before.filter((x) => !this.forbidden.includes(x)),
    };
    const input: BaseRulesInput = { ...d.base, forbidden: this.forbidden };
    const report: GuardReport = { forbidden, base: "unchanged", restored: [] };
    let reason = "";
    for (let attempt = 1; attempt <= (d.attempts ?? 2); attempt++) {
      const vms = d.vms();
      try {
        const r = await d.nft.ensureAll(input, vms);
        // A VM whose destroy began while we re-added its rules: its destroy may have removed
        // them before we put them back, so take them out again (idempotent either way).
        const still = new Set(d.vms().map((v) => v.vmId));
        for (const v of vms) if (r.vms.includes(v.vmId) && !still.has(v.vmId)) await d.nft.removeVmRules(v.vmId);
        if (r.base === "rebuilt") report.base = "rebuilt";
        report.restored = [...new Set([...report.restored, ...r.vms])];
        if (r.base === "rebuilt" || r.vms.length)
          d.log.warn({ problems: r.problems, restored: r.vms, attempt }, "isolation rules were missing or altered: restored");
        const left = await d.nft.problems(input, d.vms());
        if (!left.base.length && !left.vms.length) {
          if (forbidden.added.length || forbidden.removed.length) d.log.info(forbidden, "forbidden set follows the host's networks");
          return report;
        }
        reason = `rules still wrong after restoring: ${[...left.base, ...left.vms.map((v) => `vm ${v.vmId} has ${v.found}/${v.want} rules${v.egress ? `, ${v.egress}` : ""}`)].join("; ")}`;
      } catch (err) {
        reason = `cannot restore isolation rules: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    reason = reason.slice(0, 480);
    const ended = await d.failClosed(reason);
    d.log.error({ reason, vms: ended }, "isolation lost and not restorable: VMs ended (fail closed)");
    report.failedClosed = { reason, vms: ended };
    return report;
  }
}
