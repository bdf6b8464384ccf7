import { spawnSync } from "node:child_process";
import { natsAvailability } from "./nats-server.js";

/**
 * Requirements of a test tier. Returns the reason the tests cannot run here (printed, so a
 * skip is never silent), or undefined when they can.
 */
export function missing(...needs: ("nats" | "root" | "qemu-x86" | "qemu-arm" | "nft")[]): string | undefined {
  for (const need of needs) {
    const why = check(need);
    if (why) {
      process.stderr.write(`SKIP (${need}): ${why}\n`);
      return why;
    }
  }
  return undefined;
}

function has(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}

function check(need: string): string | undefined {
  switch (need) {
    case "nats": {
      const a = natsAvailability();
      return a.kind === "none" ? a.reason : undefined;
    }
    case "root":
      return process.getuid?.() === 0 ? undefined : "needs root (tap devices, nftables)";
    case "qemu-x86":
      return has("qemu-system-x86_64") ? undefined : "qemu-system-x86_64 missing (apt-get install qemu-system-x86)";
    case "qemu-arm":
      return has("qemu-system-aarch64") ? undefined : "qemu-system-aarch64 missing (apt-get install qemu-system-arm)";
    case "nft":
      return has("nft") ? undefined : "nft missing (apt-get install nftables)";
    default:
      return `unknown requirement ${need}`;
  }
}
