import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunnerLaunch } from "@oneshot/proto";

/** services/hostd/fixtures: data that names CI providers, kept out of src/ (see its README). */
export const fixturesDir = join(import.meta.dirname, "..", "..", "fixtures");
const json = <T>(name: string): T => JSON.parse(readFileSync(join(fixturesDir, name), "utf8")) as T;

/** Names hostd's code must not contain. */
export const providerNames = (): string[] => json<string[]>("provider-names.json");

/** The broker's launches, one per provider (any provider), with `$SECRET` replaced by `secret`. */
export function brokerLaunches(secret: string): { name: string; launch: RunnerLaunch }[] {
  const all = json<Record<string, RunnerLaunch>>("broker-launches.json");
  return Object.entries(all).map(([name, l]) => ({
    name,
    launch: { ...l, env: Object.fromEntries(Object.entries(l.env).map(([k, v]) => [k, v.replace("$SECRET", secret)])) },
  }));
}
