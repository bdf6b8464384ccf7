import { fail, ok, warn, type Finding } from "./verdict.js";

export type NatsReach = { ok: true; server: string; tlsRequired: boolean } | { ok: false; error: string };

export interface NatsFacts {
  url: string;
  user?: string | undefined;
  caFile?: string | undefined;
  auth: "nkey" | "password" | "none";
  reach: NatsReach;
}

const ENV_FIX =
  "set NATS_URL, NATS_USER, NATS_NKEY_FILE and NATS_CA_FILE as hostd has them (/etc/oneshot/hostd.env: --env-file), or start a stack with `oneshot up`";

/** Why a connection failed, as one fix: the cause decides what to change. */
function fixFor(error: string): string {
  if (/Permissions Violation for Subscription to "_INBOX_/i.test(error)) {
    return "NATS_USER does not name the identity whose seed NATS_NKEY_FILE holds (replies come only to _INBOX_<NATS_USER>): set both from the same `oneshot admin bootstrap` identity";
  }
  if (/authori[sz]ation|authenticat|nkey|user/i.test(error)) {
    return "this identity is not in NATS's config, or its seed does not match: NATS_USER and NATS_NKEY_FILE must be a pair `oneshot admin bootstrap` made (re-run it and restart NATS after adding a host)";
  }
  if (/certificate|self[- ]signed|CERT|altnames|TLS|SSL/i.test(error)) {
    return "NATS_CA_FILE must be the CA that signed NATS's certificate (secrets/tls/ca.pem), and NATS_URL's host one of its names (`oneshot admin bootstrap --nats-name`)";
  }
  if (/ECONNREFUSED|refused/i.test(error)) return `nothing listens there: start nats-server (docker compose up -d nats, or oneshot up), or ${ENV_FIX}`;
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(error)) return `the host name in NATS_URL does not resolve: ${ENV_FIX}`;
  return `check that NATS runs and this machine can reach it (firewall, ONESHOT_NATS_BIND), or ${ENV_FIX}`;
}

/** NATS reachable, over TLS that verified the server, with this identity's own key. */
export function natsCheck(f: NatsFacts): Finding {
  const who = f.user ? ` as ${f.user}` : "";
  if (!f.reach.ok) return fail("nats", `cannot reach NATS at ${f.url}${who}: ${f.reach.error}`, fixFor(f.reach.error));
  const tls = f.reach.tlsRequired || /^tls:\/\//.test(f.url);
  if (!tls)
    return warn(
      "nats",
      `connected to ${f.reach.server}${who} without TLS`,
      "production NATS requires TLS: tls:// URLs and NATS_CA_FILE (oneshot admin bootstrap writes the CA)",
    );
  if (f.auth === "none") return warn("nats", `connected to ${f.reach.server} over TLS with no identity`, "log in with an NKey: NATS_USER and NATS_NKEY_FILE");
  const verified = f.caFile ? "the server's certificate verified against NATS_CA_FILE" : "the server's certificate verified against the system's CAs";
  return ok("nats", `connected to ${f.reach.server}${who} over TLS (${verified}), ${f.auth === "nkey" ? "NKey login" : "password login"}`);
}

export type SkewFacts = { measured: true; skewMs: number; uncertaintyMs: number; how: string } | { measured: false; why: string; fix?: string };

/** Above these the local clock is off by a warning / by a failure. */
export const SKEW_WARN_MS = 1_000;
export const SKEW_FAIL_MS = 30_000;

/**
 * The local clock against NATS's. Event times (`occurredAt`), `--since 10m` and every age the
 * janitor and the dashboard show come from the writers' clocks: a host that is off by seconds
 * writes events that seem to happen out of order.
 */
export function skewCheck(f: SkewFacts): Finding {
  if (!f.measured)
    return warn("clock", `skew not measured: ${f.why}`, f.fix ?? "run the doctor with an identity that may create a consumer on EVENTS (audit or admin)");
  const abs = Math.abs(f.skewMs);
  const side = f.skewMs > 0 ? "ahead of" : "behind";
  const detail = `local clock ${(abs / 1000).toFixed(3)} s ${side} the NATS server's (±${Math.max(1, Math.round(f.uncertaintyMs))} ms, ${f.how})`;
  const fix = "synchronise the clock (systemd-timesyncd or chrony, the same NTP source as the NATS host)";
  // A skew inside the measurement's own uncertainty is no skew.
  if (abs <= SKEW_WARN_MS + f.uncertaintyMs) return ok("clock", detail);
  return abs < SKEW_FAIL_MS ? warn("clock", detail, fix) : fail("clock", detail, fix);
}
