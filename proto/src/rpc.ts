import { z } from "zod";
import { Id, VmId, defineEvent } from "./common.js";

/**
 * hostd → ingest over NATS request/reply on `rpc.runner.config.<hostId>` (core NATS, never
 * stored). The subject's host id is authenticated by NATS permissions.
 */
export const RunnerConfigRequest = defineEvent("RunnerConfigRequest", {
  hostId: Id,
  jobId: Id,
  vmId: VmId,
  /** X25519 public key of the host (base64 raw 32 bytes). */
  publicKey: z.string().max(128),
});
export type RunnerConfigRequest = z.infer<typeof RunnerConfigRequest>;

/** A secret sealed to one host: X25519 ECDH (ephemeral key) → HKDF-SHA256 → AES-256-GCM. */
export const SealedBox = z.object({
  alg: z.literal("x25519-hkdf-sha256-aes256gcm"),
  ephemeralPublicKey: z.string().max(128),
  iv: z.string().max(64),
  tag: z.string().max(64),
  ciphertext: z.string().max(1024 * 1024),
});
export type SealedBox = z.infer<typeof SealedBox>;

export const RunnerConfigErrorCode = z.enum([
  "not-found",
  "wrong-host",
  "not-runnable",
  "duplicate-name",
  "invalid",
  "rate-limited",
  "provider-error",
  "not-configured",
]);

/**
 * What the guest runs for a provider job, sealed to the host in RunnerConfigReply v2: an argv,
 * its environment (where the runner's secret goes: never argv, which is world-readable in
 * /proc), and the guest user. Provider-neutral: hostd, the config drive and the agent run it
 * without knowing which CI provider it is for.
 */
export const RunnerLaunch = z.object({
  argv: z.array(z.string().min(1).max(4096)).min(1).max(64),
  env: z.record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
    z
      .string()
      .max(512 * 1024)
      .regex(/^[^\r\n\0]*$/, "one line"),
  ),
  /** `runner`: the image's unprivileged user (falls back to root in images without one). */
  user: z.enum(["runner", "root"]),
});
export type RunnerLaunch = z.infer<typeof RunnerLaunch>;

/** RunnerConfigReply v1, frozen: the sealed plaintext was provider-specific (`kind`). */
export const RunnerConfigReplyV1 = defineEvent("RunnerConfigReply", {
  jobId: Id,
  result: z.discriminatedUnion("ok", [
    z.object({ ok: z.literal(true), kind: z.enum(["github", "gitlab"]), runnerName: z.string().max(256), sealed: SealedBox }),
    z.object({
      ok: z.literal(false),
      code: RunnerConfigErrorCode,
      message: z.string().max(1024),
      retryAfterSec: z.number().int().nonnegative().optional(),
    }),
  ]),
});

/** v2: the sealed plaintext is a RunnerLaunch (JSON); `provider` is only for logs and metrics. */
export const RunnerConfigReply = defineEvent("RunnerConfigReply", {
  jobId: Id,
  result: z.discriminatedUnion("ok", [
    z.object({
      ok: z.literal(true),
      provider: z.string().max(32),
      runnerName: z.string().max(256),
      /** A RunnerLaunch as JSON, sealed to the host. */
      sealed: SealedBox,
    }),
    z.object({
      ok: z.literal(false),
      code: RunnerConfigErrorCode,
      message: z.string().max(1024),
      retryAfterSec: z.number().int().nonnegative().optional(),
    }),
  ]),
});
export type RunnerConfigReply = z.infer<typeof RunnerConfigReply>;

export const rpcMessages = [RunnerConfigRequest, RunnerConfigReply] as const;
