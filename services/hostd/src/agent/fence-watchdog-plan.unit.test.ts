import { describe, expect, it } from "vitest";
import { vmmsToKill } from "./fence-watchdog-plan.js";

describe("the fence watchdog's kill list", () => {
  it("kills only processes whose command line still names their VM", () => {
    const cmd = new Map([
      [101, "qemu-system-x86_64 -name oneshot-ab12cd -M microvm"],
      [102, "sshd: reused pid"],
    ]);
    const picked = vmmsToKill(
      [
        { vmId: "ab12cd", pid: 101 },
        { vmId: "ef34gh", pid: 102 },
        { vmId: "gone01", pid: 103 },
      ],
      (p) => cmd.get(p),
    );
    expect(picked).toEqual([{ vmId: "ab12cd", pid: 101 }]);
  });

  it("never kills pid 1 or a malformed entry", () => {
    expect(
      vmmsToKill(
        [
          { vmId: "ab12cd", pid: 1 },
          { vmId: "../x", pid: 200 },
        ],
        () => "oneshot-ab12cd ../x",
      ),
    ).toEqual([]);
  });
});
