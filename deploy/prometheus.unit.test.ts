import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { z } from "zod";

// deploy/prometheus/prometheus.yml against compose.yaml: one job per service that serves /metrics,
// named as compose names it, on the port that service's own config serves /metrics on.
const root = join(import.meta.dirname, "..");
const read = (p: string) => readFileSync(join(root, p), "utf8");
type Service = { command?: string[]; environment?: Record<string, string>; profiles?: string[]; image?: string; volumes?: string[]; ports?: string[] };
const compose = parse(read("compose.yaml"), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const prom = parse(read("deploy/prometheus/prometheus.yml")) as {
  scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; file_sd_configs?: { files: string[] }[] }[];
};
const substitute = (v: string) => v.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, _n: string, def?: string) => def ?? "");

async function schemaOf(service: string): Promise<z.ZodObject> {
  const mod = (await import(join(root, "services", service, "src", "config.ts"))) as Record<string, unknown>;
  return mod[`${service[0]!.toUpperCase()}${service.slice(1)}Env`] as z.ZodObject; // HostdEnv, IngestEnv, …
}

/** The port a service serves /metrics on, as its config reads the environment compose gives it; undefined: it serves none. */
async function metricsPort(service: string, env: Record<string, string>): Promise<number | undefined> {
  const shape = (await schemaOf(service)).shape as Record<string, z.ZodType>;
  const value = (name: string) => {
    const v = shape[name]?.safeParse(env[name] === undefined ? undefined : substitute(env[name]!));
    return v?.success ? (v.data as number | undefined) : undefined;
  };
  // ingest serves /metrics on INGEST_PORT unless an ops port (INGEST_HTTP_PORT) takes it.
  if (service === "ingest") return value("INGEST_HTTP_PORT") ?? value("INGEST_PORT");
  return value(`${service.toUpperCase()}_HTTP_PORT`);
}

describe("deploy/prometheus/prometheus.yml", () => {
  it("scrapes every compose service that serves /metrics, by its compose name and its config's port, and nothing else", async () => {
    const expected: Record<string, string[]> = {};
    for (const [name, s] of Object.entries(compose.services)) {
      const m = /^services\/([a-z]+)\/dist\/main\.js$/.exec(s.command?.[1] ?? "");
      if (!m || s.profiles) continue;
      const port = await metricsPort(m[1]!, s.environment ?? {});
      if (port) expected[name] = [`${name}:${port}`];
    }
    expect(Object.keys(expected).sort()).toEqual(["ingest", "janitor", "scheduler"]);
    const actual = Object.fromEntries(
      prom.scrape_configs.filter((j) => j.static_configs).map((j) => [j.job_name, j.static_configs!.flatMap((c) => c.targets)]),
    );
    expect(actual).toEqual(expected);
  }, 30_000);

  it("scrapes hostd on every metal host compose provisions, on hostd's own default port", async () => {
    const job = prom.scrape_configs.find((j) => j.job_name === "hostd")!;
    const file = job.file_sd_configs![0]!.files[0]!;
    // The file Prometheus reads is the one compose mounts there.
    const mount = compose.services.prometheus!.volumes!.find((v) => v.split(":")[1] === file);
    expect(mount).toBe(`./deploy/prometheus/hostd-targets.json:${file}:ro`);
    const targets = (JSON.parse(read("deploy/prometheus/hostd-targets.json")) as { targets: string[] }[]).flatMap((g) => g.targets);
    const port = (await schemaOf("hostd")).shape.HOSTD_HTTP_PORT!.parse(undefined);
    const hosts = /\$\{ONESHOT_HOSTS:-([^}]+)\}/.exec(compose.services["nats-init"]!.command!.join(" "))![1]!.split(",");
    expect(targets).toEqual(hosts.map((h) => `${h}:${port}`));
  }, 30_000);
});

describe("compose profile `metrics`", () => {
  it("runs Prometheus and Grafana by tag, only under the profile, on loopback, with their data on volumes", () => {
    for (const name of ["prometheus", "grafana"]) {
      const s = compose.services[name]!;
      expect(s.profiles).toEqual(["metrics"]);
      expect(s.image).toMatch(/^(prom\/prometheus|grafana\/grafana-oss):v?\d+\.\d+\.\d+$/);
      expect(s.ports).toEqual([expect.stringMatching(/^\$\{ONESHOT_[A-Z]+_BIND:-127\.0\.0\.1\}:\d+:\d+$/)]);
      const data = s.volumes!.find((v) => !v.startsWith("./"))!.split(":")[0]!;
      expect(compose.volumes).toHaveProperty(data);
    }
    expect(compose.services.prometheus!.volumes).toContain("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro");
  });

  it("Grafana is provisioned with the datasource the dashboard names, and loads the dashboard from where it is mounted", () => {
    const g = compose.services.grafana!;
    const ds = parse(read("deploy/grafana/provisioning/datasources/prometheus.yaml")) as { datasources: { uid: string; url: string }[] };
    const dash = JSON.parse(read("deploy/grafana/oneshot-dashboard.json")) as { panels: { datasource?: { uid: string } }[] };
    const uids = new Set(dash.panels.filter((p) => p.datasource).map((p) => p.datasource!.uid));
    expect([...uids]).toEqual([ds.datasources[0]!.uid]);
    expect(ds.datasources[0]!.url).toBe("http://prometheus:9090");
    const provider = parse(read("deploy/grafana/provisioning/dashboards/oneshot.yaml")) as { providers: { options: { path: string } }[] };
    expect(g.volumes).toContain(`./deploy/grafana/oneshot-dashboard.json:${provider.providers[0]!.options.path}/oneshot-dashboard.json:ro`);
    expect(g.volumes).toContain("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro");
  });
});
