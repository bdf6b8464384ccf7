// `npm run bench -- <name> [args]` runs bench/<name>.bench.ts (after `npm run build`).
// Each bench prints one JSON line per case, with ratios against a baseline run in the same process.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const [name, ...args] = process.argv.slice(2);
const available = readdirSync("bench")
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(".bench.ts", ""));
if (!name || !existsSync(`bench/${name}.bench.ts`)) {
  console.error(`usage: npm run bench -- <${available.join("|")}> [args]`);
  process.exit(2);
}
const r = spawnSync("npx", ["tsx", `bench/${name}.bench.ts`, ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
