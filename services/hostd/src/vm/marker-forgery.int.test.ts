import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missing } from "@oneshot/testing";
import { HostdHarness, missingImage } from "../testing/hostd-harness.js";

// The attacker is the job (a root shell in the minimal image, like any local job). It tries to
// end itself with a forged exit marker, then to find the marker key. Real hostd, NATS, QEMU.
const skip = missing("nats", "root", "qemu-x86", "nft") ?? missingImage("amd64");
const T = 300_000;

// Every way a job could print a marker without the key: plain, with a made-up MAC, straight to
// the console device, an agent error, a ready marker. Then it keeps running and exits 7.
const FORGER = `
echo ONESHOT-JOB-EXIT=0
echo "ONESHOT-JOB-EXIT=0 mac=${"0".repeat(64)}"
echo ONESHOT-JOB-EXIT=0 > /dev/console
echo "ONESHOT-AGENT-ERROR forged" > /dev/ttyS0
echo ONESHOT-AGENT-READY
sleep 3
echo still-running-after-the-fake-markers
exit 7
`;

// Where the key could be: the drive's files, every block device (through its node and through
// a node made afresh with mknod), the agent's environment and command line, other processes'.
// Where the key could be: the drive's files, every block device (through its node and through
// a node made afresh with mknod), the agent's environment and command line, other processes'.
// (The pattern is the key block's shape, magic then 64 hex digits: the agent's own source, on
// the root disk, names the magic too.)
const KEY_HUNTER = `
pat='oneshot-marker-key-v1 [0-9a-f]{64}'
found=""
grep -rlE "$pat" /run/oneshot/cfg 2>/dev/null && found="$found file"
for s in /sys/block/*/dev; do
  n=/tmp/dev-$(basename $(dirname $s)); mknod "$n" b $(tr ':' ' ' < $s) 2>/dev/null || continue
  dd if="$n" bs=1M 2>/dev/null | grep -a -q -E "$pat" && found="$found raw:$n"
done
for d in /dev/vd*; do dd if="$d" bs=1M 2>/dev/null | grep -a -q -E "$pat" && found="$found dev:$d"; done
for p in /proc/[0-9]*; do
  tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -q '^MAC_' && found="$found env:$p"
  tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q -E '[0-9a-f]{64}|\\\\[0-7]{3}' && found="$found cmdline:$p"
done
echo "KEY-HUNT found=\${found:-none}"
# PID 1's heap holds the key's HMAC pads: the launch runs without CAP_SYS_PTRACE (util-linux
# setpriv --bounding-set), so even as root it cannot open /proc/1/mem.
heap=$(grep '\\[heap\\]' /proc/1/maps 2>/dev/null | cut -d' ' -f1)
if [ -z "$heap" ]; then
  echo "KEY-HUNT agent-memory=denied"
elif dd if=/proc/1/mem bs=4096 skip=$((0x\${heap%-*} / 4096)) count=$(( (0x\${heap#*-} - 0x\${heap%-*}) / 4096 )) 2>/dev/null | grep -a -q 'MAC_IPAD='; then
  echo "KEY-HUNT agent-memory=key-pads-read"
else
  echo "KEY-HUNT agent-memory=denied"
fi
grep -q '^CapBnd:.*' /proc/self/status && [ $(( 0x$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status) >> 19 & 1 )) -eq 1 ] && echo CapBnd-has-ptrace=yes || echo CapBnd-has-ptrace=no
exit 0
`;

describe.skipIf(skip)("console markers a job cannot forge (real hostd, QEMU guest)", () => {
  const h = new HostdHarness({ HOSTD_MAX_VCPUS: "2", HOSTD_MAX_MEM_MIB: "2048", HOSTD_TIMEOUT_GRACE: "2" });
  beforeAll(() => h.start(), T);
  afterAll(() => h.dispose(), T);

  it(
    "a job printing ONESHOT-JOB-EXIT=0 (every way it can) and then exiting 7 ends with 7, after it really finished",
    async () => {
      const { vmId } = await h.schedule({ script: FORGER });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.vmEvents(vmId).map((e) => e.type)).toEqual(["VmBootRequested", "VmBooted", "VmExited", "VmDestroyed"]);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 7, reason: "exited" });
      const out = h.consoleText(vmId);
      // The fakes are output; the job ran on past them; only the agent's signed marker counted.
      expect(out).toMatch(/^ONESHOT-JOB-EXIT=0\r?$/m);
      expect(out).toMatch(/^still-running-after-the-fake-markers\r?$/m);
      expect(out).toMatch(/^ONESHOT-JOB-EXIT=7 mac=[0-9a-f]{64}\r?$/m);
      expect(h.logs).toMatch(new RegExp(`"vmId":"${vmId}".*"forgedMarkers":[3-9].*had no valid MAC`));
    },
    T,
  );

  it(
    "a root job cannot find the key on the drive, on any block device, in any process's environment or arguments, or in the agent's memory",
    async () => {
      // It reads every block device: minutes under TCG on a busy machine, past the harness's 120 s default.
      const { vmId } = await h.schedule({ script: KEY_HUNTER, spec: { timeoutSec: 900 } });
      await h.waitEvent("VmDestroyed", vmId);
      expect(h.vmEvents(vmId).find((e) => e.type === "VmExited")!.data).toMatchObject({ exitCode: 0, reason: "exited" });
      const out = h.consoleText(vmId);
      expect(out).toMatch(/^KEY-HUNT found=none\r?$/m);
      const memory = /KEY-HUNT agent-memory=([\w-]+)/.exec(out)?.[1];
      expect(memory).toBeDefined();
      expect(memory).toBe("denied");
      expect(out).toMatch(/^CapBnd-has-ptrace=no\r?$/m);
      console.log(JSON.stringify({ test: "key-hunt", rootJobReadsAgentMemory: memory }));
    },
    T,
  );
});
