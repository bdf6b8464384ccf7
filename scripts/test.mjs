// Runs the whole suite (unit, int, e2e tiers) and prints counts per tier.
// Extra args go to vitest, e.g. `npm test -- --project unit`.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";

mkdirSync(".state", { recursive: true });
const out = ".state/test-results.json";
const res = spawnSync("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)], {
  stdio: "inherit",
});
let report;
try {
  report = JSON.parse(readFileSync(out, "utf8"));
} catch {
  console.error("no test report was written");
  process.exit(res.status ?? 1);
}
const tiers = { unit: {}, int: {}, e2e: {} };
for (const file of report.testResults) {
  const tier = /\.(unit|int|e2e)\.test\.ts$/.exec(file.name)?.[1] ?? "unit";
  for (const t of file.assertionResults) {
    const s = t.status === "pending" || t.status === "todo" ? "skipped" : t.status;
    tiers[tier][s] = (tiers[tier][s] ?? 0) + 1;
  }
}
console.log("\nper tier:");
for (const [tier, c] of Object.entries(tiers)) {
  console.log(`  ${tier.padEnd(5)} passed ${String(c.passed ?? 0).padStart(4)}  failed ${String(c.failed ?? 0).padStart(3)}  skipped ${String(c.skipped ?? 0).padStart(3)}`);
}
process.exit(res.status ?? 1);
