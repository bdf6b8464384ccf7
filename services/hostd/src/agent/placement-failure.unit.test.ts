import { RetryableError, StoreUnavailableError } from "@oneshot/runtime";
import { describe, expect, it } from "vitest";
import { placementFailure } from "./placement-failure.js";

const fsError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("placementFailure", () => {
  it("given a full disk while writing the run dir, then the reason starts with ENOSPC", () => {
    expect(placementFailure(fsError("ENOSPC", "ENOSPC: no space left on device, open '/var/lib/oneshot/hostd/vms/ab12/vm.json.tmp'"))).toEqual({
      code: "placement-failed",
      reason: "ENOSPC: ENOSPC: no space left on device, open '/var/lib/oneshot/hostd/vms/ab12/vm.json.tmp'",
    });
    expect(placementFailure(fsError("EIO", "i/o error"))?.reason).toBe("EIO: i/o error");
  });

  it("given a NATS outage, then it is left to a redelivery", () => {
    expect(placementFailure(new StoreUnavailableError("evt.host.h1.vm.ab12"))).toBeUndefined();
    expect(placementFailure(new RetryableError("timeout"))).toBeUndefined();
  });

  it("given any other exception, then it fails the placement with its name and message", () => {
    expect(placementFailure(new TypeError("cannot read properties of undefined"))).toEqual({
      code: "placement-failed",
      reason: "TypeError: cannot read properties of undefined",
    });
    expect(placementFailure("a string")).toEqual({ code: "placement-failed", reason: "Error: a string" });
  });
});
