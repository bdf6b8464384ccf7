import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONTAINER_TLS_DIR, bootstrap } from "../packages/cli/src/admin/bootstrap.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { z } from "zod";

// No Docker engine runs here: compose.yaml, the Dockerfile and the NATS config are checked
// statically, and every service's environment is parsed by that service's own config schema.
const root = join(import.meta.dirname, "..");
const compose = parse(readFileSync(join(root, "compose.yaml"), "utf8"), { merge: true }) as {
  services: Record<
    string,
    {
      command?: string[];
      environment?: Record<string, string>;
      healthcheck?: unknown;
      restart?: string;
      volumes?: string[];
      image?: string;
      ports?: string[];
      secrets?: unknown[];
    }
  >;
  secrets: Record<string, { file: string }>;
};
const control = ["ingest", "scheduler", "janitor", "dashboard"] as const;

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
  it("declares NATS, its init step, the three control services and the dashboard", () => {
    // Services under a profile (`metrics`: Prometheus, Grafana) start only when asked for: prometheus.unit.test.ts checks them.
    const always = Object.entries(compose.services)
      .filter(([, s]) => !(s as { profiles?: string[] }).profiles)
      .map(([n]) => n);
    expect(always.sort()).toEqual(["dashboard", "ingest", "janitor", "nats", "nats-init", "scheduler"]);
  });

  it("gives the dashboard the admin token bootstrap writes, and publishes it on loopback unless told otherwise", () => {
    const d = compose.services.dashboard!;
    expect(d.secrets).toContain("dashboard-admin-token");
    expect(compose.secrets["dashboard-admin-token"]?.file).toBe("./secrets/dashboard-admin-token");
    expect(d.environment?.DASHBOARD_ADMIN_TOKEN_FILE).toBe("/run/secrets/dashboard-admin-token");
    expect(d.ports).toEqual(["${ONESHOT_DASHBOARD_BIND:-127.0.0.1}:9110:9110"]);
  });

  it.each(control)("%s: restart policy, health check, its own NATS identity, and runs its service", (name) => {
    const s = compose.services[name]!;
    expect(s.restart).toBe("unless-stopped");
    expect(s.healthcheck).toBeTruthy();
    expect(s.environment?.NATS_USER).toBe(name);
    expect(s.command).toEqual(["node", `services/${name}/dist/main.js`]);
  });

  it.each(control)(
    "%s: every variable it sets is one its config schema knows, and the schema accepts them",
    async (name) => {
      const schema = await envSchema(name);
      const env = Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, substitute(String(v))]));
      const unknown = Object.keys(env).filter((k) => !(k in schema.shape));
      expect(unknown).toEqual([]);
      const parsed = schema.safeParse(env);
      expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
    },
    30_000,
  ); // the first import of a service config transforms its module graph: slow on a loaded machine

  it("runs NATS with the config, certificate and key `oneshot admin bootstrap` writes, on one address only", () => {
    const n = compose.services.nats!;
    expect(n.volumes).toEqual(
      expect.arrayContaining([
        "./secrets/nats.conf:/etc/nats/nats.conf:ro",
        `./secrets/tls/server.pem:${CONTAINER_TLS_DIR}/server.pem:ro`,
        `./secrets/tls/server.key:${CONTAINER_TLS_DIR}/server.key:ro`,
      ]),
    );
    expect(n.environment ?? {}).toEqual({});
    expect(n.ports).toEqual([expect.stringMatching(/^\$\{ONESHOT_NATS_BIND:\?[^}]+\}:4222:4222$/)]);
  });

  it.each([...control, "nats-init"])("%s: logs in with its own NKey and verifies NATS's certificate over TLS (no password)", (name) => {
    const s = compose.services[name]!;
    const identity = name === "nats-init" ? "admin" : name;
    expect(s.environment?.NATS_URL).toBe("tls://nats:4222");
    expect(s.environment?.NATS_USER).toBe(identity);
    expect(s.environment?.NATS_NKEY_FILE).toBe("/run/secrets/nats-nkey");
    expect(s.environment?.NATS_CA_FILE).toBe("/run/secrets/nats-ca");
    expect(Object.keys(s.environment ?? {}).filter((k) => /PASSWORD/.test(k))).toEqual([]);
    expect(s.secrets).toEqual(expect.arrayContaining([{ source: `nats-${identity}`, target: "nats-nkey" }, "nats-ca"]));
    // The secret is the seed bootstrap made for exactly this identity.
    expect(compose.secrets[`nats-${identity}`]?.file).toBe(`./secrets/identities/${identity}.nk`);
  });

  it("bootstrap's config names the files compose mounts, and its certificate the name services dial", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oneshot-compose-"));
    await bootstrap({ dir, hosts: ["metal-01", "metal-02"], audit: ["audit"], natsNames: ["10.0.0.5"], containerUid: process.getuid?.() ?? 1000 });
    const conf = readFileSync(join(dir, "nats.conf"), "utf8");
    expect(conf).toContain(`cert_file: "${CONTAINER_TLS_DIR}/server.pem", key_file: "${CONTAINER_TLS_DIR}/server.key"`);
    expect(conf).toContain("http_port: 8222");
    expect(new X509Certificate(readFileSync(join(dir, "tls", "server.pem"))).subjectAltName).toContain("DNS:nats");
    for (const id of ["admin", "ingest", "scheduler", "janitor", "dashboard"]) expect(existsSync(join(dir, "identities", `${id}.nk`))).toBe(true);
    expect(readFileSync(join(dir, "dashboard-admin-token"), "utf8")).toMatch(/^[0-9a-f]{48}$/);
    expect(compose.secrets["nats-ca"]?.file).toBe("./secrets/tls/ca.pem");
  });

  it("passes `docker compose config` where the compose plugin exists", (ctx) => {
    const has = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
    if (has.status !== 0) {
      const why = "the docker compose plugin is not installed; checked statically above";
      process.stderr.write(`SKIP (docker compose config): ${why}\n`);
      return ctx.skip(why);
    }
    const env = Object.fromEntries(
      readFileSync(join(root, ".env.example"), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z]/.test(l))
        .map((l) => [l.split("=")[0]!, "x"]),
    );
    for (const profile of [[], ["--profile", "metrics"]]) {
      const r = spawnSync("docker", ["compose", "-f", join(root, "compose.yaml"), ...profile, "config", "-q"], {
        env: { ...process.env, ...env },
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
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

describe("compose.cluster.yaml (3-node JetStream cluster)", () => {
  const cluster = parse(readFileSync(join(root, "compose.cluster.yaml"), "utf8"), { merge: true }) as typeof compose;
  it("runs three nodes with the configs bootstrap --cluster 3 writes, and points every service at all three", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oneshot-cluster-"));
    await bootstrap({ dir, hosts: ["metal-01"], audit: ["audit"], natsNames: ["10.0.0.5"], containerUid: process.getuid?.() ?? 1000, cluster: 3 });
    for (const [svc, i] of [
      ["nats", 1],
      ["nats-2", 2],
      ["nats-3", 3],
    ] as const) {
      expect(cluster.services[svc]!.volumes).toContain(`./secrets/nats-${i}.conf:/etc/nats/nats.conf:ro`);
      const conf = readFileSync(join(dir, `nats-${i}.conf`), "utf8");
      expect(conf).toContain(`server_name: "n${i}"`);
      expect(conf).toContain('routes: ["nats-route://nats:6222", "nats-route://nats-2:6222", "nats-route://nats-3:6222"]');
      expect(conf).toContain(`ca_file: "${CONTAINER_TLS_DIR}/ca.pem", verify: true`);
      expect(cluster.services[svc]!.volumes).toContain(`./secrets/tls/ca.pem:${CONTAINER_TLS_DIR}/ca.pem:ro`);
    }
    expect(new X509Certificate(readFileSync(join(dir, "tls", "server.pem"))).subjectAltName).toMatch(/DNS:nats-2.*DNS:nats-3/);
    for (const svc of [...control, "nats-init"])
      expect(cluster.services[svc]!.environment?.NATS_URL, svc).toBe("tls://nats:4222,tls://nats-2:4222,tls://nats-3:4222");
    expect(cluster.services["nats-init"]!.command).toEqual(expect.arrayContaining(["--replicas", "3"]));
  });
});
