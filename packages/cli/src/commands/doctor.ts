import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import { HostdEnv, machineArch } from "@oneshot/hostd";
import type { Command } from "commander";
import { CliError } from "../client/connection.js";
import { hostFindings } from "../doctor/host-facts.js";
import { natsFindings } from "../doctor/nats-probe.js";
import { exitCodeOf, fail, renderText, type Finding } from "../doctor/verdict.js";
import { repoRoot } from "../stack/paths.js";

export function doctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check this host for hostd (KVM, QEMU, images, nftables, taps, cgroups) and NATS (TLS, identity, clock); says what to fix")
    .option("--env-file <file>", "hostd's environment file (e.g. /etc/oneshot/hostd.env): its variables fill in what the environment does not set")
    .option("--no-nats", "skip the NATS and clock checks")
    .option("--nats-timeout <seconds>", "how long to try to reach NATS", "4")
    .option("--json", "one JSON object: {verdict, findings:[{check, verdict, detail, fix}]}")
    .action(async (o: { envFile?: string; nats: boolean; natsTimeout: string; json?: boolean }) => {
      if (o.envFile) loadEnvFile(o.envFile);
      const findings: Finding[] = [];
      const parsed = HostdEnv.safeParse(process.env);
      if (!parsed.success) {
        for (const i of parsed.error.issues)
          findings.push(fail("config", `${i.path.join(".")}: ${i.message}`, `fix ${i.path.join(".")} in hostd's environment`));
      }
      const c = parsed.success ? parsed.data : HostdEnv.parse({});
      const imageDir = process.env.HOSTD_IMAGE_DIR ?? process.env.ONESHOT_IMAGE_DIR ?? join(repoRoot(), "images", "out");
      findings.push(
        ...(await hostFindings({
          arch: c.HOSTD_ARCH ?? machineArch(process.arch) ?? "amd64",
          requestedAccel: c.HOSTD_ACCEL,
          imageDir: resolve(imageDir),
          bridge: c.HOSTD_BRIDGE,
          cgroupPolicy: c.HOSTD_VMM_CGROUP,
        })),
      );
      if (o.nats) findings.push(...(await natsFindings({ timeoutMs: Math.max(500, Number(o.natsTimeout) * 1000 || 4000) })));
      const code = exitCodeOf(findings);
      const verdict = findings.some((f) => f.verdict === "fail") ? "fail" : findings.some((f) => f.verdict === "warn") ? "warn" : "ok";
      // Exit as soon as the report is out: a NATS client whose login half-worked may still be retrying.
      process.stdout.write(o.json ? `${JSON.stringify({ verdict, findings })}\n` : renderText(findings), () => process.exit(code));
    });
}

function loadEnvFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new CliError(`cannot read --env-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const [k, v] of Object.entries(parseEnv(text))) if (process.env[k] === undefined) process.env[k] = v;
}
