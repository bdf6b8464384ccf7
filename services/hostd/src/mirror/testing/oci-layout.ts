import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

export interface OciImage {
  dir: string;
  tag: string;
  manifest: string;
  config: string;
  layer: string;
  layerBytes: number;
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/**
 * An OCI image layout built by hand (image-spec: `oci-layout`, `index.json`, `blobs/sha256/…`):
 * one gzip layer holding `files` (plus `randomBytes` bytes of noise in /noise, so every image is
 * its own and does not compress), its config and manifest. `skopeo copy oci:<dir>:<tag> docker://…` pushes it.
 */
export function buildOciLayout(dir: string, o: { tag?: string; files?: Record<string, string | Buffer>; randomBytes?: number }): OciImage {
  const tag = o.tag ?? "latest";
  const stage = mkdtempSync(join(tmpdir(), "oneshot-oci-stage-"));
  try {
    const files = { ...(o.files ?? {}), ...(o.randomBytes ? { noise: randomBytes(o.randomBytes) } : {}) };
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(stage, name)), { recursive: true });
      writeFileSync(join(stage, name), content, { mode: 0o755 }); // executable: an image may run any of them
    }
    const tar = spawnSync("tar", ["-C", stage, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-", "."], {
      maxBuffer: 1 << 30,
    });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
    const layer = gzipSync(tar.stdout);
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers", diff_ids: [sha(tar.stdout)] } }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layer), size: layer.length }],
      }),
    );
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    for (const b of [layer, config, manifest]) writeFileSync(join(dir, "blobs", "sha256", sha(b).slice(7)), b);
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest: sha(manifest),
            size: manifest.length,
            annotations: { "org.opencontainers.image.ref.name": tag },
          },
        ],
      }),
    );
    return { dir, tag, manifest: sha(manifest), config: sha(config), layer: sha(layer), layerBytes: layer.length };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * Pushes a layout with skopeo (a real registry client) to a plain-HTTP registry, as Docker's
 * schema 2 (what dockerd pulls best); returns the digests as that registry stores them.
 */
export function skopeoPush(img: OciImage, ref: string): { manifest: string; config: string; layer: string } {
  const r = spawnSync("skopeo", ["copy", "--quiet", "--format", "v2s2", "--dest-tls-verify=false", `oci:${img.dir}:${img.tag}`, `docker://${ref}`], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`skopeo copy to ${ref}: ${r.stderr}`);
  const raw = spawnSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" });
  if (raw.status !== 0) throw new Error(`skopeo inspect ${ref}: ${raw.stderr}`);
  const m = JSON.parse(raw.stdout) as { config: { digest: string }; layers: { digest: string }[] };
  return { manifest: sha(Buffer.from(raw.stdout)), config: m.config.digest, layer: m.layers[0]!.digest };
}

/** Pulls through a registry with skopeo into a throwaway dir (not blocking: the registries' logs keep flowing); returns the wall time in ms. */
export async function skopeoPull(ref: string): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), "oneshot-pull-"));
  const t0 = performance.now();
  try {
    await new Promise<void>((resolve, reject) =>
      execFile("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${out}`], (err, _stdout, stderr) =>
        err ? reject(new Error(`skopeo pull ${ref}: ${stderr || err.message}`)) : resolve(),
      ),
    );
    return performance.now() - t0;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
