import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { z } from "zod";

// No Docker engine runs here: compose.yaml, the Dockerfile and the NATS config are checked
// statically, and every service's environment is parsed by that service's own config schema.
const root = join(import.meta.dirname, "..");
const compose = parse(readFileSync(join(root, "compose.yaml"), "utf8"), { merge: true }) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; healthcheck?: unknown; restart?: string; volumes?: string[]; image?: string }>;
};
const control = ["ingest", "scheduler", "janitor"] as const;

/** `${VAR:-default}` → default, `${VAR:?msg}` / `${VAR}` → a placeholder: what compose would substitute. */
const substitute = (v: string) =>
  v.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, def?: string) => (def !== undefined ? def : `placeholder-${name.toLowerCase()}`));

async function envSchema(service: string): Promise<z.ZodObject> {
  const mod = (await import(join(root, "services", service, "src", "config.ts"))) as Record<string, unknown>;
  const schema = Object.entries(mod).find(([k]) => /Env$/.test(k))?.[1];
  if (!schema) throw new Error(`services/${service}/src/config.ts exports no *Env schema`);
  return schema as z.ZodObject;
}

describe("compose.yaml", () => {
  it("declares NATS, its init step and the three control services", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["ingest", "janitor", "nats", "nats-init", "scheduler"]);
  });

  it.each(control)("%s: restart policy, health check, its own NATS identity, and runs its service", (name) => {
    const s = compose.services[name]!;
    expect(s.restart).toBe("unless-stopped");
    expect(s.healthcheck).toBeTruthy();
    expect(s.environment?.NATS_USER).toBe(name);
    expect(s.command).toEqual(["node", `services/${name}/dist/main.js`]);
  });

  it.each(control)("%s: every variable it sets is one its config schema knows, and the schema accepts them", async (name) => {
    const schema = await envSchema(name);
    const env = Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, substitute(String(v))]));
    const unknown = Object.keys(env).filter((k) => !(k in schema.shape));
    expect(unknown).toEqual([]);
    const parsed = schema.safeParse(env);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
  });

  it("gives nats-server every password its config file references", () => {
    const conf = readFileSync(join(root, "deploy", "nats", "nats.conf"), "utf8");
    const wanted = [...conf.matchAll(/password: \$([A-Z0-9_]+)/g)].map((m) => m[1]!).sort();
    expect(wanted.length).toBeGreaterThan(4);
    expect(Object.keys(compose.services.nats!.environment ?? {}).sort()).toEqual(wanted);
    expect(compose.services.nats!.volumes).toContain("./deploy/nats/nats.conf:/etc/nats/nats.conf:ro");
  });

  it("ships the NATS config `oneshot admin nats-config` generates today (no stale permissions)", async () => {
    const { natsConfig } = await import("../packages/cli/src/admin/nats-config.js");
    const conf = readFileSync(join(root, "deploy", "nats", "nats.conf"), "utf8");
    expect(conf).toBe(natsConfig({ hosts: ["metal-01", "metal-02"], monitorPort: 8222 }));
  });

  it("passes `docker compose config` where the compose plugin exists", () => {
    const has = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
    if (has.status !== 0) {
      process.stderr.write("SKIP (docker compose config): the docker compose plugin is not installed; checked statically above\n");
      return;
    }
    const env = Object.fromEntries(readFileSync(join(root, ".env.example"), "utf8").split("\n").filter((l) => /^[A-Z]/.test(l)).map((l) => [l.split("=")[0]!, "x"]));
    const r = spawnSync("docker", ["compose", "-f", join(root, "compose.yaml"), "config", "-q"], { env: { ...process.env, ...env }, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("Dockerfile", () => {
  const text = readFileSync(join(root, "Dockerfile"), "utf8");
  const stages = text.split("\n").filter((l) => /^FROM /i.test(l));
  it("is multi-stage on Node 20 and runs as a non-root user", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.every((l) => /node:20/.test(l))).toBe(true);
    const final = text.slice(text.lastIndexOf("\nFROM "));
    expect(final).toMatch(/^USER (?!root)\w+/m);
  });
  it("builds from files that exist and leaves local state out", () => {
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/).filter((s) => !s.startsWith("--"))) expect(existsSync(join(root, src)), src).toBe(true);
    }
    const ignore = readFileSync(join(root, ".dockerignore"), "utf8");
    for (const p of ["node_modules", ".state", "images/out"]) expect(ignore).toContain(p);
  });
});
