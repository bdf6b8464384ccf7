// Runs the whole suite tier by tier (unit, int, e2e, then the short chaos suite: the heavy tiers
// never compete for the CPU) and prints counts per tier. Extra args go to every vitest run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";

mkdirSync(".state", { recursive: true });
const tiers = ["unit", "int", "e2e", "chaos"];
const counts = {};
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
  const c = (counts[tier] = { passed: 0, failed: 0, skipped: 0, seconds: Math.round((Date.now() - started) / 1000) });
  try {
    for (const file of JSON.parse(readFileSync(out, "utf8")).testResults) {
      if (file.status === "failed" && file.assertionResults.length === 0) c.failed++; // a file that failed to load
      for (const t of file.assertionResults) c[t.status === "passed" ? "passed" : t.status === "failed" ? "failed" : "skipped"]++;
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
process.exit(failed ? 1 : 0);
