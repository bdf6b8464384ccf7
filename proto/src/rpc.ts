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
  "not-found", "wrong-host", "not-runnable", "duplicate-name", "invalid", "rate-limited",
  "provider-error", "not-configured",
]);

export const RunnerConfigReply = defineEvent("RunnerConfigReply", {
  jobId: Id,
  result: z.discriminatedUnion("ok", [
    z.object({
      ok: z.literal(true),
      kind: z.enum(["github", "gitlab"]),
      runnerName: z.string().max(256),
      /** github: the encoded JIT config; gitlab: `{url, token}` as JSON. Sealed to the host. */
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
