import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from "node:crypto";
import type { SealedBox } from "@oneshot/proto";

/**
 * A secret sealed to one host (proto's SealedBox): X25519 ECDH between a fresh ephemeral key
 * and the host's key → HKDF-SHA256 (empty salt, this info string) → AES-256-GCM. Only the
 * holder of the host's private key can open it; every box uses a new key, so the IV never repeats.
 */
export const SEALED_BOX_INFO = "oneshot sealed box v1";

export class SealedBoxError extends Error {
  override readonly name = "SealedBoxError";
  readonly retryable = false;
}

export function x25519PublicKeyFromRaw(rawB64: string): KeyObject {
  const raw = Buffer.from(rawB64, "base64");
  if (raw.length !== 32) throw new SealedBoxError(`X25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" }) as { x: string };
  return Buffer.from(jwk.x, "base64url").toString("base64");
}

const deriveKey = (shared: Buffer) => Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), SEALED_BOX_INFO, 32));

export function seal(plaintext: string, recipientRawB64: string): SealedBox {
  const recipient = x25519PublicKeyFromRaw(recipientRawB64);
  const eph = generateKeyPairSync("x25519");
  const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return {
    alg: "x25519-hkdf-sha256-aes256gcm",
    ephemeralPublicKey: rawPublicKey(eph.publicKey),
    iv: iv.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
    ciphertext: ciphertext.toString("base64"),
  };
}

export function open(box: SealedBox, privateKey: KeyObject): string {
  if (box.alg !== "x25519-hkdf-sha256-aes256gcm") throw new SealedBoxError(`unknown sealed box algorithm ${String(box.alg)}`);
  try {
    const key = deriveKey(diffieHellman({ privateKey, publicKey: x25519PublicKeyFromRaw(box.ephemeralPublicKey) }));
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(box.iv, "base64"));
    decipher.setAuthTag(Buffer.from(box.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(box.ciphertext, "base64")), decipher.final()]).toString("utf8");
  } catch (e) {
    throw new SealedBoxError("cannot open the sealed box (wrong key or tampered box)", { cause: e });
  }
}
