// Regenerates docs/identities.md: `npx tsx scripts/write-identities-doc.ts`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { identitiesDoc } from "../packages/cli/src/admin/identities-doc.js";

writeFileSync(join(import.meta.dirname, "..", "docs", "identities.md"), identitiesDoc());
