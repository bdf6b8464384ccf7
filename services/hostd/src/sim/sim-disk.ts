import { open, stat, writeFile } from "node:fs/promises";
import type { Exec, ExecResult } from "../host/exec.js";

const ok: ExecResult = { code: 0, stdout: "", stderr: "" };
const fail = (why: string): ExecResult => ({ code: 1, stdout: "", stderr: why });

/**
 * The simulation's disk adapter: the programs hostd's disk steps run (root-disk.ts,
 * config-drive.ts), answered without copying images or formatting filesystems:
 *  - `cp <base> <tmp>` / `qemu-img create … <tmp> <bytes>`: an empty file at `<tmp>` (the
 *    step's rename then makes it "the disk"),
 *  - `truncate -s <bytes> <file>`: the file must exist; its size is left alone (a sparse
 *    1 GiB per VM is pointless here),
 *  - `mkfs.ext4 … <image>`: the image hostd sized must exist; it stays zeroes, and hostd's
 *    marker key block is appended after it as on a real host.
 * Anything else fails as "not simulated": the simulated host never runs a real program.
 */
export const simDiskExec: Exec = async (cmd, args) => {
  const last = args.at(-1) ?? "";
  const exists = (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    );
  switch (cmd) {
    case "cp": {
      const [src, dst] = args.filter((a) => !a.startsWith("-"));
      if (!src || !dst) return fail("cp: missing operand");
      if (!(await exists(src))) return fail(`cp: cannot stat '${src}': No such file or directory`);
      await writeFile(dst, "", { mode: 0o600 });
      return ok;
    }
    case "qemu-img": {
      if (args[0] !== "create") return fail(`qemu-img ${args[0]}: not simulated`);
      await writeFile(args.at(-2) ?? "", "", { mode: 0o600 });
      return ok;
    }
    case "truncate":
      return (await exists(last)) ? ok : fail(`truncate: cannot open '${last}': No such file or directory`);
    case "mkfs.ext4": {
      const fh = await open(last, "r").catch(() => undefined);
      if (!fh) return fail(`mkfs.ext4: ${last}: No such file`);
      await fh.close();
      return ok;
    }
    default:
      return { code: 127, stdout: "", stderr: `simulated host: ${cmd} is not simulated` };
  }
};
