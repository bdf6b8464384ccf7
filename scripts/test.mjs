// Runs the whole suite tier by tier (unit, int, e2e, then the short chaos suite: the heavy tiers
// never compete for the CPU) and prints counts per tier. Extra args go to every vitest run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";

mkdirSync(".state", { recursive: true });
const firstLine = (m) =>
  String(m ?? "")
    .split("\n")[0]
    .slice(0, 300);
// What a tier left running (a guest, a NATS server, a resolver) competes with the next tier for
// two cores: say so, with its CPU share, so a slow tier after it has a visible cause.
const leftovers = (tier) => {
  const ps = spawnSync("ps", ["-eo", "pid=,pcpu=,etimes=,args="], { encoding: "utf8" }).stdout ?? "";
  const ours = ps.split("\n").filter((l) => /qemu-system|nats-server|dnsmasq|docker-registry|registry serve|\/dist\/main\.js/.test(l));
  if (ours.length) console.log(`\nleft running after the ${tier} tier:\n${ours.map((l) => `  ${l.trim().slice(0, 200)}`).join("\n")}`);
};
const tiers = ["unit", "int", "e2e", "chaos"];
const counts = {};
const failures = [];
let failed = false;
for (const tier of tiers) {
  const out = `.state/test-results-${tier}.json`;
  console.log(`\n=== ${tier} tests ===`);
  const started = Date.now();
  const res = spawnSync(
    "npx",
    ["vitest", "run", "--project", tier, "--passWithNoTests", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
    {
      stdio: "inherit",
    },
  );
  if (res.status !== 0) failed = true;
  leftovers(tier);
  const c = (counts[tier] = { passed: 0, failed: 0, skipped: 0, seconds: Math.round((Date.now() - started) / 1000) });
  try {
    for (const file of JSON.parse(readFileSync(out, "utf8")).testResults) {
      const name = file.name.replace(`${process.cwd()}/`, "");
      if (file.status === "failed" && file.assertionResults.length === 0) {
        c.failed++; // a file that failed to load
        failures.push(`${tier}: ${name}: ${firstLine(file.message)}`);
      }
      for (const t of file.assertionResults) {
        c[t.status === "passed" ? "passed" : t.status === "failed" ? "failed" : "skipped"]++;
        if (t.status === "failed") failures.push(`${tier}: ${name} > ${t.fullName} (${Math.round(t.duration ?? 0)} ms): ${firstLine(t.failureMessages?.[0])}`);
      }
    }
  } catch {
    console.error(`no report for the ${tier} tier`);
    failed = true;
  }
}
console.log("\nper tier:");
for (const [tier, c] of Object.entries(counts)) {
  console.log(
    `  ${tier.padEnd(5)} passed ${String(c.passed).padStart(4)}  failed ${String(c.failed).padStart(3)}  skipped ${String(c.skipped).padStart(3)}  in ${String(c.seconds).padStart(4)} s`,
  );
}
// The failures again, last, where a reader of only the output's tail sees them.
if (failures.length) {
  console.log("\nfailed:");
  for (const f of failures) console.log(`  ${f}`);
}
process.exit(failed ? 1 : 0);
