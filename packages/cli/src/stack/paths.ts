import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (where `package.json` with the workspaces lives). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== "/") {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "services"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find the oneshot checkout (no services/ folder above the CLI)");
}

/** `ONESHOT_STATE_DIR`, default `<repo>/.state`. */
export function stateDir(): string {
  return resolve(process.env.ONESHOT_STATE_DIR ?? join(repoRoot(), ".state"));
}

/** Where `oneshot up` records how to reach the stack it started. */
export const upFile = () => join(stateDir(), "up.json");
