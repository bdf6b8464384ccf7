import { envInt } from "@oneshot/runtime";
import { z } from "zod";

/** The Docker Hub mirror's port on the guests' gateway: the registry convention, what the full image's dockerd is pointed at. */
export const DOCKER_HUB_MIRROR_PORT = 5000;

const upstreamUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\/[^/?#]+\/?$/.test(u), "must be http(s)://host[:port] (a registry's root)");

/**
 * `HOSTD_REGISTRY_MIRROR_EXTRA`: `<port>=<url>`, comma-separated, e.g. `5001=https://ghcr.io,5002=https://quay.io`.
 * Each is one more pull-through cache on the gateway at that port (guests pull `<gateway>:5001/owner/image`).
 */
export const MirrorExtraEnv = z.string().transform((s, ctx) => {
  const out: { port: number; url: string }[] = [];
  for (const item of s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(\d{4})=(\S+)$/.exec(item);
    const port = Number(m?.[1]);
    if (!m || port < 5001 || port > 5099) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${item}" is not <port>=<url> with a port from 5001 to 5099 (5000 is Docker Hub's)` });
      return z.NEVER;
    }
    if (!upstreamUrl.safeParse(m[2]).success) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${item}": ${m[2]} is not http(s)://host[:port]` });
      return z.NEVER;
    }
    if (out.some((o) => o.port === port)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `port ${port} is given twice` });
      return z.NEVER;
    }
    out.push({ port, url: m[2]!.replace(/\/$/, "") });
  }
  return out;
});

/** hostd's registry mirror variables (docs/registry-mirror.md); spread into HostdEnv. */
export const MirrorEnv = {
  /**
   * `on`: hostd runs a pull-through cache of Docker Hub (Debian's docker-registry, the CNCF
   * distribution registry in proxy mode) on the bridge's gateway address, port 5000, and opens
   * that port to guests only; the full image's dockerd uses it as `registry-mirrors`. A setup
   * error (no binary, no user, storage it cannot write) stops hostd. `auto` (what `oneshot up`
   * sets): the same, but such a host runs without the mirror (logged) instead.
   */
  HOSTD_REGISTRY_MIRROR: z.enum(["on", "auto", "off"]).default("off"),
  /** What port 5000 caches: Docker Hub's registry (dockerd's `registry-mirrors` applies to Docker Hub pulls only). */
  HOSTD_REGISTRY_MIRROR_UPSTREAM: upstreamUrl.transform((u) => u.replace(/\/$/, "")).default("https://registry-1.docker.io"),
  /** More registries, each cached on a port of its own: `<port>=<url>`, comma-separated (ports 5001-5099). */
  HOSTD_REGISTRY_MIRROR_EXTRA: MirrorExtraEnv.default([]),
  /** Where the cache lives (one directory per port). Default `<ONESHOT_STATE_DIR>/registry-mirror`. */
  HOSTD_REGISTRY_MIRROR_DIR: z.string().min(1).optional(),
  /**
   * Size cap of the whole cache, MiB (what its files take on disk). The pruner removes the least
   * recently used blobs until the cache is under 90% of it, after each pull and every
   * HOSTD_REGISTRY_MIRROR_PRUNE_INTERVAL seconds.
   */
  HOSTD_REGISTRY_MIRROR_CAP_MIB: envInt(16, 1024 * 1024 * 1024).default(20 * 1024),
  /** Seconds between prune passes (one also runs a few seconds after each blob a guest pulls). */
  HOSTD_REGISTRY_MIRROR_PRUNE_INTERVAL: envInt(1, 86400).default(60),
  /** The unprivileged user the registry runs as (Debian's package creates `docker-registry`). */
  HOSTD_REGISTRY_MIRROR_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name")
    .default("docker-registry"),
  /** The registry binary (`docker-registry serve <config>`): Debian's by default. */
  HOSTD_REGISTRY_MIRROR_BIN: z.string().min(1).default("docker-registry"),
};
