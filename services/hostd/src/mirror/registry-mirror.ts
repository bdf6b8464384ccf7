import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@oneshot/runtime";
import type { Exec } from "../host/exec.js";
import { every } from "../telemetry/loop.js";
import { blobServed, parseAccessLine } from "./access-log.js";
import { blobDataPath, removeBlob, scanCache, touchBlob } from "./blob-store.js";
import { registryConfig, type MirrorInstance } from "./mirror-config.js";
import { lowWater, planPrune } from "./prune-plan.js";
import { RegistryProcess } from "./registry-process.js";

export interface RegistryMirrorOpts {
  instances: MirrorInstance[];
  /** The cache's directory: each instance's storage under it, and their configs. */
  dir: string;
  /** The address the registries listen on: the bridge's gateway, nowhere else. */
  listen: string;
  capBytes: number;
  pruneIntervalSec: number;
  user: string;
  bin: string;
  exec: Exec;
  log: Logger;
  /** Seconds from a served blob to the prune pass it triggers. */
  pruneDelaySec?: number;
}

export class MirrorSetupError extends Error {
  override readonly name = "MirrorSetupError";
  readonly retryable = false;
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface MirrorCounters {
  /** Blobs the registries served to guests (GET 200 in their access logs), per mirror. */
  blobPulls: Map<string, number>;
  prunes: number;
  evictedBlobs: number;
  evictedBytes: number;
  /** The last scan: what the cache took, and its blobs. */
  bytes: number;
  blobs: number;
}

/**
 * The host's registry mirror (docs/registry-mirror.md): one distribution registry in proxy mode
 * per instance, listening on the gateway only, each a child of hostd (RegistryProcess), and a
 * pruner that keeps the whole cache under its cap by removing the least recently used blobs.
 * `prepare` measures and sets up (binary, user, directories, configs) and throws with what is
 * wrong; `start` runs it; `stop` ends it (hostd's shutdown, before the bridge goes).
 */
export class RegistryMirror {
  readonly counters: MirrorCounters = { blobPulls: new Map(), prunes: 0, evictedBlobs: 0, evictedBytes: 0, bytes: 0, blobs: 0 };
  private readonly procs = new Map<string, RegistryProcess>();
  private stopPruner: (() => Promise<void>) | undefined;
  private pruning: Promise<void> | undefined;
  private soon: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    readonly o: RegistryMirrorOpts,
    private readonly ids: { uid: number; gid: number },
  ) {}

  get ports(): number[] {
    return this.o.instances.map((i) => i.port);
  }

  /** Which registries answer now (by instance name). */
  get up(): Map<string, boolean> {
    return new Map(this.o.instances.map((i) => [i.name, this.procs.get(i.name)?.up ?? false]));
  }

  restarts(name: string): number {
    return this.procs.get(name)?.restarts ?? 0;
  }

  static async prepare(o: RegistryMirrorOpts): Promise<RegistryMirror> {
    const version = await o.exec(o.bin, ["--version"], { timeoutMs: 10_000 });
    if (version.code !== 0)
      throw new MirrorSetupError(
        `HOSTD_REGISTRY_MIRROR=on but ${o.bin} does not run (${version.stderr.trim().slice(0, 200) || `exit ${version.code}`}): apt-get install docker-registry`,
      );
    const id = async (flag: string) => {
      const r = await o.exec("id", [flag, o.user]);
      const n = Number(r.stdout.trim());
      if (r.code !== 0 || !Number.isInteger(n))
        throw new MirrorSetupError(`HOSTD_REGISTRY_MIRROR_USER ${o.user}: no such user (Debian's docker-registry package creates it)`);
      return n;
    };
    const ids = { uid: await id("-u"), gid: await id("-g") };
    if (ids.uid === 0) throw new MirrorSetupError(`HOSTD_REGISTRY_MIRROR_USER ${o.user} is root: the registry runs unprivileged`);
    await mkdir(o.dir, { recursive: true, mode: 0o755 });
    for (const i of o.instances) {
      await mkdir(i.storage, { recursive: true, mode: 0o700 });
      await chown(i.storage, ids.uid, ids.gid);
      await chmod(i.storage, 0o700);
      const canWrite = await o.exec("setpriv", [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, "--clear-groups", "--", "test", "-w", i.storage]);
      if (canWrite.code !== 0)
        throw new MirrorSetupError(
          `${o.user} cannot write ${i.storage}: every directory above it must be searchable by others (chmod o+x), or set HOSTD_REGISTRY_MIRROR_DIR`,
          i.storage,
        );
      // Temp name + rename: a config is whole or absent.
      const path = configPath(o.dir, i);
      await writeFile(`${path}.tmp`, registryConfig(i, o.listen), { mode: 0o644 });
      await rename(`${path}.tmp`, path);
    }
    o.log.info(
      {
        mirrors: o.instances.map((i) => ({ name: i.name, port: i.port, upstream: i.upstream })),
        dir: o.dir,
        capBytes: o.capBytes,
        listen: o.listen,
        version: version.stdout.trim(),
      },
      "registry mirror prepared",
    );
    return new RegistryMirror(o, ids);
  }

  start(): void {
    for (const i of this.o.instances) {
      const p = new RegistryProcess({
        name: i.name,
        bin: this.o.bin,
        ...this.ids,
        configPath: configPath(this.o.dir, i),
        // Only uploads use it, and a proxy takes none; set so the registry does not make one up and warn.
        env: { REGISTRY_HTTP_SECRET: randomBytes(32).toString("hex") },
        log: this.o.log,
        onLine: (line) => this.line(i, line),
        readyUrl: `http://${this.o.listen}:${i.port}/v2/`,
      });
      this.procs.set(i.name, p);
      p.start();
    }
    this.stopPruner = every(this.o.pruneIntervalSec, "registry-mirror-prune", () => this.prune(), this.o.log);
  }

  private line(i: MirrorInstance, line: string): void {
    const access = parseAccessLine(line);
    if (!access) {
      // The registry's own log: its errors (an upstream that fails, a full disk) matter, the rest is chatter.
      if (/level=(error|fatal|panic)|^panic:/.test(line)) this.o.log.warn({ mirror: i.name, line: line.slice(0, 500) }, "registry mirror says");
      else this.o.log.debug({ mirror: i.name, line: line.slice(0, 500) }, "registry mirror says");
      return;
    }
    const digest = blobServed(access);
    if (!digest) return;
    this.counters.blobPulls.set(i.name, (this.counters.blobPulls.get(i.name) ?? 0) + 1);
    void touchBlob(blobDataPath(i.storage, digest), new Date());
    // A miss stores what it fetched: look at the cap soon after, not only at the next interval.
    if (!this.soon && !this.stopped)
      this.soon = setTimeout(() => ((this.soon = undefined), void this.prune().catch(() => undefined)), (this.o.pruneDelaySec ?? 2) * 1000);
  }

  /** One pass: scan, and if the cache is over its cap, remove the least recently used blobs down to 90% of it. Never two at once. */
  async prune(): Promise<void> {
    if (this.pruning) return this.pruning;
    this.pruning = (async () => {
      const scan = await scanCache(this.o.dir);
      // Uploads in flight are not the cache yet: counted, a proxy's fetch of a blob (two at once
      // for one cold pull, seen here) would evict what was just used, to make room for bytes that
      // become a blob or vanish a moment later. They are bounded by the pulls in flight.
      const stored = scan.totalBytes - scan.uploadBytes;
      const plan = planPrune({ blobs: scan.blobs, totalBytes: stored, capBytes: this.o.capBytes, lowWaterBytes: lowWater(this.o.capBytes) });
      for (const b of plan.evict) await removeBlob(b.path);
      this.counters.prunes++;
      this.counters.evictedBlobs += plan.evict.length;
      this.counters.evictedBytes += plan.evict.reduce((n, b) => n + b.bytes, 0);
      this.counters.bytes = plan.bytesAfter;
      this.counters.blobs = scan.blobs.length - plan.evict.length;
      if (plan.evict.length)
        this.o.log.info(
          {
            evicted: plan.evict.length,
            evictedBytes: stored - plan.bytesAfter,
            bytesBefore: stored,
            uploadBytes: scan.uploadBytes,
            bytesAfter: plan.bytesAfter,
            capBytes: this.o.capBytes,
          },
          "registry mirror over its cap: least recently used blobs removed",
        );
    })().finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.soon);
    await this.stopPruner?.();
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
    await this.pruning;
  }
}

const configPath = (dir: string, i: MirrorInstance) => join(dir, `${i.name}.yml`);
