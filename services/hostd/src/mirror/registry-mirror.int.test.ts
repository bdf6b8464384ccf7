import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@oneshot/runtime";
import { freePort, missing, waitFor } from "@oneshot/testing";
import { exec } from "../host/exec.js";
import { blobDataPath, scanCache } from "./blob-store.js";
import type { MirrorInstance } from "./mirror-config.js";
import { RegistryMirror } from "./registry-mirror.js";
import { buildOciLayout, skopeoPull, skopeoPush } from "./testing/oci-layout.js";
import { missingRegistryTools, TestRegistry } from "./testing/test-registry.js";

// The mirror's own machinery against real registries (Debian's docker-registry as the upstream
// and as the mirror, skopeo as the client), on loopback, without hostd or a guest: pull-through
// and the cache, the size cap holding with LRU eviction while the registry serves, and a mirror
// that starts before its upstream is reachable. The guest's view is registry-mirror.e2e.test.ts.
const skip = missing("root") ?? missingRegistryTools();
const MiB = 1024 * 1024;

describe.skipIf(skip)("registry mirror (real registries on loopback)", () => {
  const log = createLogger("hostd-test", { level: process.env.LOG_LEVEL ?? "warn", fd: 2 });
  const work = mkdtempSync(join(tmpdir(), "oneshot-mirror-test-"));
  let upstream: TestRegistry;
  const mirrors: RegistryMirror[] = [];
  // Three images of 4 MiB of noise each; the cap fits two of them and the registry's metadata.
  const images = ["a", "b", "c"].map((n) => ({
    name: n,
    oci: buildOciLayout(join(work, `oci-${n}`), { files: { [`hello-${n}`]: `${n}\n` }, randomBytes: 4 * MiB }),
  }));
  let pushed: Record<string, { manifest: string; config: string; layer: string }> = {};

  const newMirror = async (
    name: string,
    capBytes: number,
    upstreamUrl: string,
  ): Promise<{ mirror: RegistryMirror; ref: (img: string) => string; inst: MirrorInstance }> => {
    const dir = join(work, name);
    const inst: MirrorInstance = { name: "docker.io", port: await freePort(), upstream: upstreamUrl, storage: join(dir, "docker.io") };
    const mirror = await RegistryMirror.prepare({
      instances: [inst],
      dir,
      listen: "127.0.0.1",
      capBytes,
      pruneIntervalSec: 3600,
      pruneDelaySec: 0.2,
      user: "docker-registry",
      bin: "docker-registry",
      exec,
      log,
    });
    mirrors.push(mirror);
    mirror.start();
    return { mirror, inst, ref: (img) => `127.0.0.1:${inst.port}/library/${img}:latest` };
  };

  beforeAll(async () => {
    chmodSync(work, 0o755); // the registry user must reach its storage below it
    upstream = new TestRegistry({ addr: "127.0.0.1", port: await freePort() });
    await upstream.start();
    pushed = Object.fromEntries(images.map((i) => [i.name, skopeoPush(i.oci, `127.0.0.1:${upstream.o.port}/library/${i.name}:latest`)]));
  });
  afterAll(async () => {
    for (const m of mirrors) await m.stop();
    await upstream?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it("pulls through; a second pull is served from the cache: the upstream sends each blob only for the first", async () => {
    const { mirror, ref, inst } = await newMirror("cache", 1024 * MiB, upstream.url);
    await waitFor("the mirror", () => mirror.up.get("docker.io"), 20_000, 100);
    const { layer, config } = pushed.a!;
    const coldMs = await skopeoPull(ref("a"));
    // The registry stores what it fetched after serving it.
    await waitFor("the layer stored", () => existsSync(blobDataPath(inst.storage, layer)), 20_000, 100);
    await upstream.settled();
    const afterCold = { layer: upstream.blobGets(layer), config: upstream.blobGets(config) };
    const cachedMs = await skopeoPull(ref("a"));
    await upstream.settled();
    process.stderr.write(
      `mirror: cold pull ${coldMs.toFixed(0)} ms, cached ${cachedMs.toFixed(0)} ms (4 MiB layer, upstream on loopback); upstream blob GETs after the cold pull: layer ${afterCold.layer}, config ${afterCold.config}\n`,
    );
    // distribution 2.8 fetches a missed blob twice: once streamed to the client, once to store it
    // (distribution/distribution#3569 made it one, in 3.0). Never more, and nothing after.
    expect(afterCold.layer).toBeGreaterThanOrEqual(1);
    expect(afterCold.layer).toBeLessThanOrEqual(2);
    expect(upstream.blobGets(layer)).toBe(afterCold.layer);
    expect(upstream.blobGets(config)).toBe(afterCold.config);
    expect(mirror.counters.blobPulls.get("docker.io")).toBe(4); // layer + config, twice
    await mirror.stop();
  });

  it("keeps the whole cache under its cap: over it, the least recently used blobs go, and a pull of one brings it back", async () => {
    // Two images and the metadata fit; a third does not.
    const cap = 10 * MiB;
    const { mirror, ref, inst } = await newMirror("capped", cap, upstream.url);
    await waitFor("the mirror", () => mirror.up.get("docker.io"), 20_000, 100);
    const stored = (img: string) => existsSync(blobDataPath(inst.storage, pushed[img]!.layer));
    await skopeoPull(ref("a"));
    await skopeoPull(ref("b"));
    const state = () =>
      `a stored ${stored("a")}, b stored ${stored("b")}; evicted ${mirror.counters.evictedBlobs} blobs in ${mirror.counters.prunes} passes; files:\n${spawnSync("find", [inst.storage, "-type", "f", "-size", "+1k", "-printf", "%s %p\\n"], { encoding: "utf8" }).stdout}`;
    await waitFor("a and b stored", () => stored("a") && stored("b"), 20_000, 100, state);
    await mirror.prune();
    expect(mirror.counters.evictedBlobs).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    await skopeoPull(ref("a")); // a is used again: b is now the least recently used
    // once the mirror has read that use off the registry's access log (a pipe, read a moment later under load)
    const used = (img: string) => statSync(blobDataPath(inst.storage, pushed[img]!.layer)).atimeMs;
    await waitFor("a's second use recorded", () => used("a") > used("b"), 20_000, 50);
    await upstream.settled();
    const beforeC = upstream.blobGets(pushed.b!.layer);
    await skopeoPull(ref("c"));
    await waitFor("b evicted", () => !stored("b"), 20_000, 100);
    await mirror.prune(); // c may have landed after the pass the pull triggered
    const scan = await scanCache(join(work, "capped"));
    process.stderr.write(
      `mirror: cap ${cap} bytes, cache ${scan.totalBytes} bytes after the pass, evicted ${mirror.counters.evictedBlobs} blobs (${mirror.counters.evictedBytes} bytes)\n`,
    );
    expect(scan.totalBytes - scan.uploadBytes).toBeLessThanOrEqual(cap); // uploads in flight are not the cache (registry-mirror.ts)
    expect(stored("a")).toBe(true);
    expect(stored("c")).toBe(true);
    // b is fetched again from the upstream, and pulled whole.
    await skopeoPull(ref("b"));
    await upstream.settled();
    expect(upstream.blobGets(pushed.b!.layer)).toBeGreaterThan(beforeC);
    await mirror.stop();
  });

  it("a mirror whose upstream is unreachable at start keeps restarting (distribution 2.8 exits then) and serves once it is reachable", async () => {
    const late = new TestRegistry({ addr: "127.0.0.1", port: await freePort() });
    try {
      const { mirror, ref } = await newMirror("late", 1024 * MiB, late.url);
      await waitFor("a restart", () => mirror.restarts("docker.io") >= 1, 20_000, 100);
      expect(mirror.up.get("docker.io")).toBe(false);
      await late.start();
      skopeoPush(images[0]!.oci, `127.0.0.1:${late.o.port}/library/a:latest`);
      await waitFor("the mirror", () => mirror.up.get("docker.io"), 30_000, 100);
      await skopeoPull(ref("a"));
      await mirror.stop();
    } finally {
      await late.dispose();
    }
  });
});
