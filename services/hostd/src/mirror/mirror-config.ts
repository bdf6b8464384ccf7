import { join } from "node:path";
import { DOCKER_HUB_MIRROR_PORT } from "./mirror-env.js";

/** One pull-through cache: a registry process on the gateway at `port`, caching `upstream` in `storage`. */
export interface MirrorInstance {
  /** `docker.io` for port 5000, else `port-<n>`: the directory and log name. */
  name: string;
  port: number;
  upstream: string;
  storage: string;
}

export interface MirrorSettings {
  dockerHubUpstream: string;
  extra: { port: number; url: string }[];
  dir: string;
}

/** Port 5000 caches Docker Hub (what dockerd's `registry-mirrors` asks); each extra registry gets its own port and directory. */
export function mirrorInstances(s: MirrorSettings): MirrorInstance[] {
  return [
    { name: "docker.io", port: DOCKER_HUB_MIRROR_PORT, upstream: s.dockerHubUpstream },
    ...s.extra.map((e) => ({ name: `port-${e.port}`, port: e.port, upstream: e.url })),
  ].map((i) => ({ ...i, storage: join(s.dir, i.name) }));
}

/**
 * The registry's configuration (distribution 2.8, proxy mode), as JSON: YAML is a superset of
 * JSON, so no value needs YAML quoting. Left out on purpose:
 *  - `storage.cache.blobdescriptor`: a cached descriptor outlives the blob the pruner removed, and
 *    the registry would then answer for a blob it no longer has (distribution/distribution#1356)
 *    instead of fetching it again;
 *  - `http.debug`: no second listener (its proxy counters are not reliable in 2.8 either);
 *  - upstream credentials: a mirror with them would hand every job on the host whatever that account can pull.
 * `redirect.disable`: the filesystem driver has no redirects anyway; the access log then shows
 * every blob served, which is how the pruner learns what was used.
 */
export function registryConfig(i: MirrorInstance, listen: string): string {
  const config = {
    version: 0.1,
    log: { level: "info", formatter: "text", fields: { service: "oneshot-registry-mirror", mirror: i.name } },
    storage: {
      filesystem: { rootdirectory: i.storage },
      maintenance: { uploadpurging: { enabled: true, age: "1h", interval: "1h", dryrun: false } },
      redirect: { disable: true },
    },
    http: { addr: `${listen}:${i.port}`, headers: { "X-Content-Type-Options": ["nosniff"] } },
    proxy: { remoteurl: i.upstream },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
