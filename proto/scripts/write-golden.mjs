// Writes golden payloads for catalog versions that have none yet. Never overwrites:
// a published version's golden file is frozen (delete it by hand only if it was never released).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { catalog, encode } from "../dist/index.js";
import { examples, goldenMeta } from "../dist/examples.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "golden");
mkdirSync(dir, { recursive: true });
let written = 0;
for (const [type, entry] of Object.entries(catalog)) {
  const file = join(dir, `${type}.v${entry.latest}.msgpack`);
  if (existsSync(file)) continue;
  writeFileSync(file, encode({ type, data: examples[type] }, goldenMeta));
  console.log(`wrote ${file}`);
  written++;
}
console.log(`${written} new golden file(s); existing ones left untouched`);
