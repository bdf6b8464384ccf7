import { createHmac, randomUUID } from "node:crypto";
import type { Rng } from "./rng.js";

/**
 * GitHub's webhook delivery semantics: every attempt is recorded (newest first in the API); an
 * attempt answered non-2xx, not answered within the timeout (10 s), or never sent (a "dropped"
 * delivery: the network lost it) is a failed delivery, and GitHub NEVER retries one by itself.
 * Only `POST /app/hook/deliveries/{id}/attempts` re-sends it: same payload, same
 * `X-GitHub-Delivery` guid, a new delivery record with `redelivery: true`.
 */
export interface DeliveryRecord {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  /** "OK", or GitHub's error text ("Invalid HTTP Response: 503", "timed out", "failed to connect to host"). */
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  throttled_at: null;
  url: string;
  /** Not in GitHub's list view: the raw body and the request headers sent (served by `GET …/deliveries/{id}`). */
  body: string;
  requestHeaders: Record<string, string>;
  responseBody: string;
  /** Why the stand-in itself made this attempt fail, when it did ("dropped"). */
  injected?: string;
}

/** What happens to one delivery attempt. */
export type DeliveryFate =
  | { kind: "send"; delayMs?: number }
  /** Lost on the way: recorded as failed ("failed to connect to host"), the receiver never sees it. */
  | { kind: "drop" }
  /** Sent twice (the same guid), as a flaky proxy might; two records. */
  | { kind: "duplicate"; delayMs?: number }
  /** Held until `release()` (for explicit reordering). */
  | { kind: "hold" };

export interface DeliveryInfo {
  event: string;
  action: string | null;
  payload: Record<string, unknown>;
  redelivery: boolean;
  guid: string;
}

/** A seeded policy: probabilities per attempt and a delay range (which reorders deliveries). */
export interface DeliveryPolicy {
  seed?: number;
  drop?: number;
  duplicate?: number;
  delayMs?: [number, number];
}

export interface Held {
  info: DeliveryInfo;
  release(): void;
}

export class WebhookSender {
  readonly records: DeliveryRecord[] = [];
  readonly held: Held[] = [];
  target: { url: string; secret: string } | undefined;
  timeoutMs: number;
  private nextId = 90_000_000_001;
  private controls: { match: (d: DeliveryInfo) => boolean; fate: DeliveryFate; times: number }[] = [];
  private inflight = new Set<Promise<void>>();
  private rng: Rng;
  private policy: DeliveryPolicy;

  constructor(o: { target?: { url: string; secret: string }; timeoutMs?: number; policy?: DeliveryPolicy; rng: Rng }) {
    this.target = o.target;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.policy = o.policy ?? {};
    this.rng = o.rng;
  }

  setPolicy(p: DeliveryPolicy): void {
    this.policy = p;
  }

  /** The next `times` deliveries that `match` get `fate` (explicit controls win over the policy). */
  control(match: (d: DeliveryInfo) => boolean, fate: DeliveryFate, times = 1): void {
    this.controls.push({ match, fate, times });
  }

  private fateOf(d: DeliveryInfo): DeliveryFate {
    const c = this.controls.find((x) => x.times > 0 && x.match(d));
    if (c) {
      c.times--;
      return c.fate;
    }
    if (d.redelivery) return { kind: "send" }; // an explicit redelivery is not subject to the random policy
    const p = this.policy;
    const delay = p.delayMs ? p.delayMs[0] + Math.floor(this.rng() * (p.delayMs[1] - p.delayMs[0] + 1)) : 0;
    if (p.drop && this.rng() < p.drop) return { kind: "drop" };
    if (p.duplicate && this.rng() < p.duplicate) return { kind: "duplicate", delayMs: delay };
    return { kind: "send", delayMs: delay };
  }

  /** Sends one delivery (a new event, or a redelivery of `guid`). Resolves once every attempt it made is recorded. */
  deliver(d: Omit<DeliveryInfo, "guid" | "redelivery"> & { guid?: string; redelivery?: boolean }): Promise<void> {
    const info: DeliveryInfo = { ...d, guid: d.guid ?? randomUUID(), redelivery: d.redelivery ?? false };
    const fate = this.fateOf(info);
    const body = JSON.stringify(info.payload);
    const run = async () => {
      if (fate.kind === "hold") {
        await new Promise<void>((release) => this.held.push({ info, release }));
        await this.attempt(info, body);
        return;
      }
      if (fate.kind === "drop") return void this.record(info, body, {}, { status: "failed to connect to host", code: 0, ms: 0, text: "", injected: "dropped" });
      if (fate.delayMs) await new Promise((r) => setTimeout(r, fate.delayMs));
      if (fate.kind === "duplicate") await Promise.all([this.attempt(info, body), this.attempt(info, body)]);
      else await this.attempt(info, body);
    };
    const p = run().finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  private headers(info: DeliveryInfo, body: string): Record<string, string> {
    const h: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/stand-in",
      "x-github-event": info.event,
      "x-github-delivery": info.guid,
      "x-github-hook-id": "1",
      "x-github-hook-installation-target-type": "integration",
      "x-github-hook-installation-target-id": "1",
    };
    if (this.target?.secret) h["x-hub-signature-256"] = `sha256=${createHmac("sha256", this.target.secret).update(body).digest("hex")}`;
    return h;
  }

  private async attempt(info: DeliveryInfo, body: string): Promise<void> {
    const headers = this.headers(info, body);
    const t0 = performance.now();
    if (!this.target) return void this.record(info, body, headers, { status: "no webhook URL configured", code: 0, ms: 0, text: "" });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.timeoutMs);
    try {
      const r = await fetch(this.target.url, { method: "POST", headers, body, signal: ac.signal });
      const text = await r.text();
      const ok = r.status >= 200 && r.status < 300;
      this.record(info, body, headers, { status: ok ? "OK" : `Invalid HTTP Response: ${r.status}`, code: r.status, ms: performance.now() - t0, text });
    } catch (e) {
      const timedOut = ac.signal.aborted;
      this.record(info, body, headers, {
        status: timedOut ? "timed out" : "failed to connect to host",
        code: 0,
        ms: performance.now() - t0,
        text: timedOut ? "" : String(e),
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private record(
    info: DeliveryInfo,
    body: string,
    requestHeaders: Record<string, string>,
    r: { status: string; code: number; ms: number; text: string; injected?: string },
  ): void {
    const p = info.payload as { installation?: { id?: number }; repository?: { id?: number } };
    this.records.push({
      id: this.nextId++,
      guid: info.guid,
      delivered_at: new Date().toISOString(),
      redelivery: info.redelivery,
      duration: Math.round(r.ms) / 1000,
      status: r.status,
      status_code: r.code,
      event: info.event,
      action: info.action,
      installation_id: p.installation?.id ?? null,
      repository_id: p.repository?.id ?? null,
      throttled_at: null,
      url: this.target?.url ?? "",
      body,
      requestHeaders,
      responseBody: r.text,
      ...(r.injected ? { injected: r.injected } : {}),
    });
  }

  /** Resolves once every delivery started so far has been attempted and recorded (held ones are not waited for). */
  async settle(): Promise<void> {
    while (this.inflight.size > this.held.length) {
      await Promise.race([...this.inflight, new Promise((r) => setTimeout(r, 20))]);
    }
  }

  /** Releases held deliveries, in the order given (default: all, in the order they were held). */
  release(which: (h: Held) => boolean = () => true): number {
    const out = this.held.filter(which);
    for (const h of out) {
      this.held.splice(this.held.indexOf(h), 1);
      h.release();
    }
    return out.length;
  }
}
