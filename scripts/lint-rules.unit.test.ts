// The lint rules that keep core/ folders pure and skips honest (eslint.config.mjs), run on small
// snippets: each forbidden form is reported in a core folder, each allowed one is not, and the same
// code outside core/ is left alone. Syntax-only (no type information), so it runs in a second.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const eslint = new ESLint({
  cwd: root,
  overrideConfig: [{ ...tseslint.configs.disableTypeChecked, languageOptions: { parserOptions: { project: false, projectService: false } } }],
});
const CORE = "services/scheduler/src/core/probe.ts";
const OUTSIDE = "services/scheduler/src/loop/probe.ts";

async function findings(code: string, filePath: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return r!.messages.map((m) => `${m.ruleId ?? "fatal"}: ${m.message}`);
}
const restricted = (fs: string[]) => fs.filter((f) => f.startsWith("no-restricted-") || f.startsWith("fatal"));

describe("core/ folders stay pure", () => {
  it.each([
    ["Date.now()", "export const t = () => Date.now();"],
    ["new Date()", "export const t = () => new Date().toISOString();"],
    ["Date()", "export const t = () => Date();"],
    ["Math.random", "export const r = () => Math.random();"],
    ["crypto.randomUUID", "export const id = () => crypto.randomUUID();"],
    ["globalThis.crypto", "export const id = () => globalThis.crypto.randomUUID();"],
    ["randomUUID from node:crypto", 'import { randomUUID } from "node:crypto";\nexport const id = () => randomUUID();'],
    ["randomBytes from crypto", 'import { randomBytes } from "crypto";\nexport const id = () => randomBytes(8);'],
    ["process.env", "export const v = () => process.env.X;"],
    ["setTimeout", "export const later = (f: () => void) => setTimeout(f, 10);"],
    ["setInterval", "export const every = (f: () => void) => setInterval(f, 10);"],
    ["node:fs", 'import { readFileSync } from "node:fs";\nexport const r = () => readFileSync("x");'],
    ["fs/promises", 'import { readFile } from "node:fs/promises";\nexport const r = () => readFile("x");'],
    ["node:child_process", 'import { spawn } from "node:child_process";\nexport const s = () => spawn("x");'],
    ["node:net", 'import { connect } from "node:net";\nexport const c = () => connect(1);'],
    ["node:http", 'import { createServer } from "node:http";\nexport const s = () => createServer();'],
    ["node:https", 'import { request } from "node:https";\nexport const s = () => request("x");'],
    ["node:dgram", 'import { createSocket } from "node:dgram";\nexport const s = () => createSocket("udp4");'],
    ["node:os", 'import { hostname } from "node:os";\nexport const h = () => hostname();'],
    ["@nats-io/*", 'import { connect } from "@nats-io/transport-node";\nexport const c = () => connect();'],
    ["pino", 'import { pino } from "pino";\nexport const l = () => pino();'],
    ["@oneshot/runtime", 'import { createLogger } from "@oneshot/runtime";\nexport const l = () => createLogger("x");'],
  ])("reports %s in a core folder, and not outside one", async (_what, code) => {
    expect(restricted(await findings(code, CORE))).toHaveLength(1);
    expect(restricted(await findings(code, OUTSIDE))).toEqual([]);
  });

  it.each([
    ["new Date(ms)", "export const iso = (ms: number) => new Date(ms).toISOString();"],
    ["Date.parse", "export const ms = (s: string) => Date.parse(s);"],
    ["Math.max", "export const m = (a: number, b: number) => Math.max(a, b);"],
    ["createHash from node:crypto", 'import { createHash } from "node:crypto";\nexport const h = (s: string) => createHash("sha256").update(s).digest("hex");'],
    ["@oneshot/proto", 'import { subjects } from "@oneshot/proto";\nexport const s = () => subjects;'],
    ["a time passed in", "export const late = (nowMs: number, deadlineMs: number) => nowMs > deadlineMs;"],
  ])("allows %s in a core folder", async (_what, code) => {
    expect(await findings(code, CORE)).toEqual([]);
  });

  it("lets a core's tests read knobs from the environment, not the clock", async () => {
    const test = "services/scheduler/src/core/probe.unit.test.ts";
    expect(await findings("export const runs = Number(process.env.SIM_RUNS ?? 200);", test)).toEqual([]);
    expect(restricted(await findings("export const t = Date.now();", test))).toHaveLength(1);
  });

  it("covers every core folder in the tree", async () => {
    const dirs = execFileSync(
      "find",
      [
        ".",
        "(",
        "-name",
        "node_modules",
        "-o",
        "-name",
        "dist",
        "-o",
        "-name",
        "images",
        "-o",
        "-name",
        ".*",
        "-not",
        "-name",
        ".",
        ")",
        "-prune",
        "-o",
        "-type",
        "d",
        "-name",
        "core",
        "-print",
      ],
      { cwd: root, encoding: "utf8" },
    )
      .split("\n")
      .filter(Boolean);
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) {
      const config = await eslint.calculateConfigForFile(`${root}${dir.slice(2)}/probe.ts`);
      expect(config.rules?.["no-restricted-imports"]?.[0], dir).toBe(2);
      expect(config.rules?.["no-restricted-properties"]?.[0], dir).toBe(2);
    }
  });
});

describe("a test that prints SKIP must skip", () => {
  const file = "services/hostd/src/probe.int.test.ts";
  it("reports printing SKIP and returning", async () => {
    const code = `import { it } from "vitest";
it("x", async () => {
  if (Math.abs(1) > 0) {
    process.stderr.write("SKIP (thing): missing here\\n");
    return;
  }
});
it("y", () => {
  if (Math.abs(1) > 0) {
    console.log(\`skipping: \${"no tool"}\`);
    return;
  }
});`;
    expect(restricted(await findings(code, file))).toHaveLength(2);
  });

  it("allows ctx.skip(reason) and helpers that return the reason", async () => {
    const code = `import { it } from "vitest";
it("x", async (ctx) => {
  if (Math.abs(1) > 0) {
    process.stderr.write("SKIP (thing): missing here\\n");
    return ctx.skip("missing here");
  }
});
export function missingThing(): string | undefined {
  if (Math.abs(1) > 0) {
    process.stderr.write("SKIP (thing): missing here\\n");
    return "missing here";
  }
  return undefined;
}`;
    expect(await findings(code, file)).toEqual([]);
  });
});
