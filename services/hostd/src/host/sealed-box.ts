import { createDecipheriv, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import type { SealedBox } from "@oneshot/proto";

/**
 * Opens a SealedBox (proto/src/rpc.ts: X25519 ECDH with an ephemeral key → HKDF-SHA256 →
 * AES-256-GCM) with the host's private key. Provisional until `packages/runtime` ships the
 * shared seal/open: the HKDF salt/info below are this file's reading of the algorithm and
 * must match ingest's sealer (hostd switches to the runtime's `openSealedBox` once it exists).
 */
export const SEALED_BOX_INFO = "oneshot sealed box v1";

export class SealedBoxError extends Error {
  override readonly name = "SealedBoxError";
  readonly retryable = false;
}

/** Raw 32-byte X25519 public key (base64) → KeyObject. */
export function x25519PublicKey(rawB64: string): KeyObject {
  const raw = Buffer.from(rawB64, "base64");
  if (raw.length !== 32) throw new SealedBoxError(`X25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

export function openSealedBox(box: SealedBox, privateKey: KeyObject): string {
  if (box.alg !== "x25519-hkdf-sha256-aes256gcm") throw new SealedBoxError(`unknown sealed box algorithm ${String(box.alg)}`);
  try {
    const shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(box.ephemeralPublicKey) });
    const key = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), SEALED_BOX_INFO, 32));
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(box.iv, "base64"));
    decipher.setAuthTag(Buffer.from(box.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(box.ciphertext, "base64")), decipher.final()]).toString("utf8");
  } catch (e) {
    throw new SealedBoxError("cannot open the sealed runner config (wrong host key or tampered box)", { cause: e });
  }
}
