import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { encode, subjects, type DomainEvent } from "@oneshot/proto";
import { EventStore, connectNats, createLogger, inboxPrefixFor } from "@oneshot/runtime";
import { freePort, missing, startNats, type TestNats } from "@oneshot/testing";
import { envVarFor, natsConfig } from "./nats-config.js";
import { provisionAll, provisionHost } from "./provision.js";

const skip = missing("nats");
const log = createLogger("test", { level: "silent" });
const meta = { id: "019375e0-0000-7000-8000-000000000009", occurredAt: new Date().toISOString(), correlationId: "perm", causationId: null };
const spec = { arch: "amd64", vcpus: 1, memMiB: 256, diskGiB: 1, image: "minimal", timeoutSec: 60 } as const;
const scheduled = (hostId: string): DomainEvent => ({ type: "JobScheduled", data: { jobId: "j1", hostId, vmId: "abc123", spec, attempt: 0 } });
const vmExited = (hostId: string): DomainEvent => ({
  type: "VmExited",
  data: { hostId, vmId: "abc123", jobId: "j1", exitCode: 0, reason: "exited", runMs: 1 },
});

describe.skipIf(skip)("NATS permissions from the generated config (real nats-server)", () => {
  let server: TestNats;
  const passwords: Record<string, string> = {};
  const conns: NatsConnection[] = [];
  const as = async (user: string) => {
    const nc = await natsConnect({
      servers: `127.0.0.1:${server.port}`,
      user,
      pass: passwords[user],
      maxReconnectAttempts: 0,
      inboxPrefix: inboxPrefixFor(user)!,
    });
    conns.push(nc);
    return nc;
  };
  /** Resolves to "ok" or the error message: a denied publish must not be stored. */
  const tryPublish = async (nc: NatsConnection, subject: string, e: DomainEvent) =>
    jetstream(nc)
      .publish(subject, encode(e, meta), { timeout: 2_000 })
      .then(
        () => "ok",
        (err: Error) => err.message,
      );

  beforeAll(async () => {
    const hosts = ["metal-01", "metal-02"];
    const dir = mkdtempSync(join(tmpdir(), "oneshot-natsconf-"));
    const port = await freePort();
    for (const u of ["admin", "ingest", "scheduler", "janitor", "dashboard", ...hosts.map((h) => `hostd-${h}`), "audit"]) {
      passwords[u] = `pw-${u}`;
      process.env[envVarFor(u)] = passwords[u];
    }
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, natsConfig({ hosts, port, listen: "127.0.0.1", storeDir: join(dir, "js"), dashboard: true }));
    server = await startNats({ port, config: conf });
    const admin = await connectNats({ url: server.url, name: "admin", user: "admin", password: passwords.admin }, log);
    await provisionAll(admin, hosts, log);
    await new EventStore(admin.js, admin.jsm).append(scheduled("metal-02"), { correlationId: "perm" });
    await admin.nc.close();
  });
  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    await server?.dispose();
  });

  it("lets an audit identity replay the whole log and close its own consumers, and nothing else: no publish, no known durable, no delete of another's", async () => {
    const audit = await connectNats({ url: server.url, name: "audit", user: "audit", password: passwords.audit }, log);
    try {
      const seen: string[] = [];
      const r = await new EventStore(audit.js, audit.jsm).replay("evt.>", (e) => void seen.push(e.type));
      expect(r.count).toBeGreaterThan(0);
      expect(seen).toContain("JobScheduled");
      const forged = await audit.js.publish(subjects.host("metal-01"), encode(scheduled("metal-01"), meta), { timeout: 2_000 }).then(
        () => "ok",
        (e: Error) => e.message,
      );
      expect(forged).toMatch(/permission/i);
      // nats-server 2.9 names a consumer in the create subject whether it is durable or not, so
      // an identity that may create ordered consumers may also create a named one; every known
      // durable is denied by name, and `admin init` re-provisions a host durable whose filter is wrong.
      const deleted = await audit.jsm.consumers.delete("EVENTS", "hostd-metal-01").then(
        () => "deleted",
        (e: Error) => e.message,
      );
      expect(deleted).toMatch(/permission/i);
      // Its own (what closing an ordered consumer does) it may remove: no error on every close.
      await audit.jsm.consumers.add("EVENTS", {
        name: "audit-own-1",
        filter_subject: "evt.>",
        ack_policy: "none" as never,
        inactive_threshold: 30_000_000_000,
      });
      expect(
        await audit.jsm.consumers.delete("EVENTS", "audit-own-1").then(
          () => "deleted",
          (e: Error) => e.message,
        ),
      ).toBe("deleted");
      const stream = await audit.jsm.streams.add({ name: "ROGUE2", subjects: ["rogue2.>"] }).then(
        () => "created",
        (e: Error) => e.message,
      );
      expect(stream).toMatch(/permission/i);
      // A squatted host durable reading another host's work is replaced by `admin init`.
      await audit.jsm.consumers.add("EVENTS", { durable_name: "hostd-metal-03", filter_subject: "evt.host.metal-01", ack_policy: "explicit" as never });
      const admin = await connectNats({ url: server.url, name: "admin", user: "admin", password: passwords.admin }, log);
      expect(await provisionHost(admin, "metal-03")).toBe("replaced");
      expect((await admin.jsm.consumers.info("EVENTS", "hostd-metal-03")).config.filter_subject).toBe("evt.host.metal-03");
      expect(await provisionHost(admin, "metal-03")).toBe("exists");
      await admin.nc.close();
    } finally {
      await audit.nc.close();
    }
  });

  it("lets the dashboard read the log, the consoles and the heartbeats, and publish no event but an operator's cordon/drain/cancel subjects", async () => {
    const hostd = await connectNats({ url: server.url, name: "hostd", user: "hostd-metal-01", password: passwords["hostd-metal-01"] }, log);
    await hostd.js.publish(
      subjects.heartbeat("metal-01"),
      encode(
        {
          type: "HostHeartbeat",
          data: {
            hostId: "metal-01",
            runningVms: 0,
            used: { vcpus: 0, memMiB: 0, diskGiB: 0 },
            capacity: { vcpus: 4, memMiB: 4096, diskGiB: 10 },
            accel: "tcg",
            draining: false,
            uptimeSec: 1,
          },
        },
        meta,
      ),
      { timeout: 2_000 },
    );
    await hostd.nc.close();
    const dash = await connectNats({ url: server.url, name: "dashboard", user: "dashboard", password: passwords.dashboard }, log);
    try {
      const seen: string[] = [];
      expect((await new EventStore(dash.js, dash.jsm).replay("evt.>", (e) => void seen.push(e.type))).count).toBeGreaterThan(0);
      expect(seen).toContain("JobScheduled");
      const beats = await dash.js.consumers.get("TELEMETRY", { filter_subjects: subjects.allHeartbeats });
      expect((await beats.next({ expires: 2_000 }))?.subject).toBe(subjects.heartbeat("metal-01"));
      await beats.delete();
      const logs = await dash.js.consumers.get("LOGS", { filter_subjects: "log.>" });
      await logs.delete();
      // No event of a host, a VM, a provider; no telemetry, console or dead letter; no stream; no durable.
      const nc = await as("dashboard");
      expect(await tryPublish(nc, subjects.vm("metal-01", "abc123"), vmExited("metal-01"))).toMatch(/permission/i);
      expect(
        await tryPublish(nc, `${subjects.host("metal-01")}.self`, { type: "HostDeregistered", data: { hostId: "metal-01", reason: "x" } } as DomainEvent),
      ).toMatch(/permission/i);
      expect(await tryPublish(nc, "evt.provider.github", scheduled("metal-01"))).toMatch(/permission/i);
      for (const subject of [subjects.heartbeat("metal-01"), "log.host.metal-01.vm.abc123", "dlq.dashboard", "rpc.runner.config.metal-01"]) {
        expect(
          await dash.js.publish(subject, new Uint8Array(), { timeout: 1_000 }).then(
            () => "ok",
            (e: Error) => e.message,
          ),
          subject,
        ).not.toBe("ok");
      }
      expect(
        await dash.jsm.streams.add({ name: "ROGUE3", subjects: ["rogue3.>"] }).then(
          () => "created",
          (e: Error) => e.message,
        ),
      ).toMatch(/permission/i);
      expect(
        await dash.jsm.consumers.delete("EVENTS", "hostd-metal-01").then(
          () => "deleted",
          (e: Error) => e.message,
        ),
      ).toMatch(/permission/i);
      // What a signed-in operator does from the dashboard: the CLI's cordon, and a job's cancel.
      expect(await tryPublish(nc, subjects.host("metal-01"), { type: "HostCordoned", data: { hostId: "metal-01", reason: "from the dashboard" } })).toBe("ok");
      expect(await tryPublish(nc, subjects.job("j1"), { type: "JobCancelled", data: { jobId: "j1", reason: "from the dashboard" } })).toBe("ok");
    } finally {
      await dash.nc.close();
    }
  });

  it("refuses a hostd writing its own host subject: it cannot place jobs on itself or cordon itself there", async () => {
    const nc = await as("hostd-metal-01");
    expect(await tryPublish(nc, subjects.host("metal-01"), scheduled("metal-01"))).toMatch(/permission/i);
    expect(await tryPublish(nc, subjects.host("metal-01"), { type: "HostCordoned", data: { hostId: "metal-01", reason: "x" } })).toMatch(/permission/i);
  });

  it("keeps each durable to its owner: no other identity may delete, update, read from or ack a host's durable", async () => {
    for (const who of ["ingest", "scheduler", "janitor", "audit"]) {
      const nc = await as(who);
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      expect(
        await jsm.consumers.delete("EVENTS", "hostd-metal-01").then(
          () => "deleted",
          (e: Error) => e.message,
        ),
        who,
      ).toMatch(/permission/i);
      const update = await jsm.consumers.update("EVENTS", "hostd-metal-01", { max_deliver: 1, ack_wait: 1_000_000 }).then(
        () => "updated",
        (e: Error) => e.message,
      );
      expect(update, who).toMatch(/permission/i);
      const recreate = await jsm.consumers
        .add("EVENTS", { durable_name: "hostd-metal-01", filter_subject: "evt.host.metal-01", ack_policy: "explicit" as never, deliver_policy: "all" as never })
        .then(
          () => "created",
          (e: Error) => e.message,
        );
      expect(recreate, who).toMatch(/permission/i);
      const pulled = await jetstream(nc)
        .consumers.get("EVENTS", "hostd-metal-01")
        .then(
          (c) =>
            c.next({ expires: 1_000 }).then(
              (m) => (m ? "read a message" : "nothing"),
              (e: Error) => e.message,
            ),
          (e: Error) => e.message,
        );
      expect(pulled, who).not.toBe("read a message");
    }
    const admin = await as("admin");
    const info = await jetstreamManager(admin).then((m) => m.consumers.info("EVENTS", "hostd-metal-01"));
    expect(info.config.filter_subject).toBe("evt.host.metal-01");
    expect(info.config.max_deliver).not.toBe(1);
  });

  it("lets the control-plane services still read the whole log through their own consumers, and run their own durables", async () => {
    const ingest = await connectNats({ url: server.url, name: "ingest", user: "ingest", password: passwords.ingest }, log);
    const seen: string[] = [];
    await new EventStore(ingest.js, ingest.jsm).replay(subjects.allEvents, (e) => void seen.push(e.type));
    expect(seen).toContain("JobScheduled");
    const made = await ingest.jsm.consumers
      .add("EVENTS", { durable_name: "ingest-gitlab-cleanup", filter_subject: "evt.job.*", ack_policy: "explicit" as never })
      .then(
        () => "created",
        (e: Error) => e.message,
      );
    expect(made).toBe("created");
    await ingest.nc.close();
  });

  it("lets a hostd append its own host's events", async () => {
    const nc = await as("hostd-metal-01");
    expect(await tryPublish(nc, subjects.vm("metal-01", "abc123"), vmExited("metal-01"))).toBe("ok");
  });

  it("refuses a hostd publishing another host's events", async () => {
    const nc = await as("hostd-metal-01");
    expect(await tryPublish(nc, subjects.vm("metal-02", "abc123"), vmExited("metal-02"))).toMatch(/permission/i);
    expect(await tryPublish(nc, subjects.host("metal-02"), scheduled("metal-02"))).toMatch(/permission/i);
  });

  it("refuses a hostd reading another host's work, or creating its own consumer on it", async () => {
    const nc = await as("hostd-metal-01");
    const js = jetstream(nc);
    const other = await js.consumers.get("EVENTS", "hostd-metal-02").then(
      (c) =>
        c.next({ expires: 1_000 }).then(
          (m) => (m ? "read a message" : "nothing"),
          (e: Error) => e.message,
        ),
      (e: Error) => e.message,
    );
    expect(other).toMatch(/permission/i);
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const sneaky = await jsm.consumers.add("EVENTS", { durable_name: "sneaky", filter_subject: "evt.host.metal-02", ack_policy: "explicit" as never }).then(
      () => "created",
      (e: Error) => e.message,
    );
    expect(sneaky).toMatch(/permission/i);
  });

  it("lets a hostd read its own provisioned work", async () => {
    const nc = await as("hostd-metal-01");
    const admin = await as("admin");
    await jetstream(admin).publish(subjects.host("metal-01"), encode(scheduled("metal-01"), meta));
    const c = await jetstream(nc).consumers.get("EVENTS", "hostd-metal-01");
    const m = await c.next({ expires: 3_000 });
    expect(m?.subject).toBe("evt.host.metal-01");
    m?.ack();
  });

  it("lets ingest append job events, host-subject retirements and provider events, but not VM subjects", async () => {
    const nc = await as("ingest");
    // The reconciler appends VmRetired to the host subject (hostd acts on it). nats-server 2.9
    // permissions see subjects, not types: which types each writer may put there is the
    // subject table's job (consumers check it), not this test's.
    expect(await tryPublish(nc, subjects.vm("metal-01", "k3j9x2ab"), scheduled("metal-01"))).toMatch(/permission/i);
    expect(await tryPublish(nc, "evt.provider.github", scheduled("metal-01"))).toBe("ok");
    const queued: DomainEvent = {
      type: "JobQueued",
      data: { jobId: "j9", spec, source: { provider: "local", repo: "local", org: "local", providerJobId: "j9", labels: [] } },
    };
    expect(await tryPublish(nc, subjects.job("j9"), queued)).toBe("ok");
  });

  it("gives each identity its own reply inbox: a host cannot read another's replies or the shared _INBOX", async () => {
    const spy = await as("hostd-metal-02");
    /** Resolves to the permission error the server sends for a refused subscription, or "ok". */
    const trySubscribe = async (subject: string) => {
      const sub = spy.subscribe(subject);
      const refused = (async () => {
        for await (const s of spy.status()) if (s.type === "error" && /permission/i.test(String(s.error))) return String(s.error);
        return "ok";
      })();
      const verdict = await Promise.race([
        refused,
        sub.closed.then((e) => (e ? String(e) : "closed")),
        new Promise<string>((r) => setTimeout(() => r("ok"), 1_500)),
      ]);
      sub.unsubscribe();
      return verdict;
    };
    expect(await trySubscribe("_INBOX_hostd-metal-01.>")).toMatch(/permission/i);
    expect(await trySubscribe("_INBOX.>")).toMatch(/permission/i);
    // Its own inbox works: a JetStream publish waits for its acknowledgement there.
    expect(await tryPublish(spy, subjects.hostSelf("metal-02"), { type: "HostDeregistered", data: { hostId: "metal-02", reason: "own" } })).toBe("ok");
  });

  it("refuses the janitor job subjects: job decisions are the scheduler's", async () => {
    const nc = await as("janitor");
    const failed: DomainEvent = { type: "JobFailed", data: { jobId: "j1", reason: "vanished" } };
    expect(await tryPublish(nc, subjects.job("j1"), failed)).toMatch(/permission/i);
    const vanished: DomainEvent = { type: "VmVanished", data: { hostId: "metal-01", vmId: "abc123", jobId: "j1", reason: "gone" } };
    expect(await tryPublish(nc, subjects.host("metal-01"), vanished)).toBe("ok");
  });

  it("lets the janitor use the lease bucket admin created, but not create streams", async () => {
    const { ensureKv } = await import("@oneshot/runtime");
    const janitor = await connectNats({ url: server.url, name: "janitor", user: "janitor", password: passwords.janitor }, log);
    const kv = await ensureKv(janitor, "janitor", { ttlMs: 15_000 });
    await kv.put("leader", "janitor-1");
    expect((await kv.get("leader"))?.string()).toBe("janitor-1");
    const made = await janitor.jsm.streams.add({ name: "ROGUE", subjects: ["rogue.>"] }).then(
      () => "created",
      (e: Error) => e.message,
    );
    expect(made).toMatch(/permission/i);
    await janitor.nc.close();
  });

  it("lets the scheduler place work on a host", async () => {
    const nc = await as("scheduler");
    expect(await tryPublish(nc, subjects.host("metal-01"), scheduled("metal-01"))).toBe("ok");
  });
});
