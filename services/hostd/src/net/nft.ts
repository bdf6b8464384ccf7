import { run, type Exec } from "../host/exec.js";
import {
  VM_COMMENT, VM_RULE_COUNT, baseMarker, baseRulesScript, deleteRulesScript, parseRuleset, rulesOfVm, tableName, vmRulesScript,
  type BaseRulesInput, type NftRuleRef,
} from "./nft-rules.js";
import type { VmNet } from "./vm-address.js";

/** nftables through the `nft` binary: every change is one atomic `nft -f -` transaction. */
export class Nft {
  constructor(private readonly exec: Exec) {}

  async ruleset(): Promise<ReturnType<typeof parseRuleset>> {
    return parseRuleset(await run(this.exec, "nft", ["-j", "list", "ruleset"]));
  }

  private apply(script: string): Promise<string> {
    return run(this.exec, "nft", ["-f", "-"], { input: script });
  }

  /** Measure: both tables exist with this input's marker. Act: rebuild them atomically. */
  async ensureBase(input: BaseRulesInput): Promise<"unchanged" | "rebuilt"> {
    const t = tableName(input.bridge);
    const { tables } = await this.ruleset();
    const marker = baseMarker(input);
    const bridge = tables.find((x) => x.family === "bridge" && x.name === t);
    const inet = tables.find((x) => x.family === "inet" && x.name === t);
    if (bridge?.marker === marker && inet?.marker === marker) return "unchanged";
    await this.apply(baseRulesScript(input, { bridge: !!bridge, inet: !!inet }));
    return "rebuilt";
  }

  /** Removes both base tables of a bridge (a test's teardown; hostd keeps them). */
  async removeBase(bridge: string): Promise<void> {
    const t = tableName(bridge);
    const { tables } = await this.ruleset();
    const script = tables.filter((x) => x.name === t && (x.family === "bridge" || x.family === "inet")).map((x) => `delete table ${x.family} ${t}`);
    if (script.length) await this.apply(script.join("\n") + "\n");
  }

  /** Measure: all of the VM's rules are there. Act: drop a partial set, add the whole set. */
  async ensureVmRules(bridge: string, vmId: string, net: VmNet): Promise<"present" | "added"> {
    const mine = rulesOfVm((await this.ruleset()).rules, vmId);
    if (mine.length === VM_RULE_COUNT) return "present";
    await this.apply((mine.length ? deleteRulesScript(mine) : "") + vmRulesScript(bridge, vmId, net));
    return "added";
  }

  /** Removes every rule tagged `oneshot:<vmId>`, in whichever table; returns how many. Idempotent. */
  async removeVmRules(vmId: string): Promise<number> {
    const mine = rulesOfVm((await this.ruleset()).rules, vmId);
    if (mine.length) await this.apply(deleteRulesScript(mine));
    return mine.length;
  }

  /** `oneshot:<vmId>` comments found in this bridge's tables (inventory). */
  async vmComments(bridge: string): Promise<string[]> {
    const t = tableName(bridge);
    const found = new Set<string>();
    for (const r of (await this.ruleset()).rules) if (r.table === t && r.comment && VM_COMMENT.test(r.comment)) found.add(r.comment);
    return [...found].sort();
  }
}

export type { NftRuleRef };
