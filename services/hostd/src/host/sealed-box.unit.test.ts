import { createCipheriv, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SealedBox } from "@oneshot/proto";
import { rawPublicKey } from "./host-key.js";
import { SEALED_BOX_INFO, openSealedBox, x25519PublicKey } from "./sealed-box.js";

/** The sealing side, written here from proto/src/rpc.ts's description (ingest has its own). */
function seal(plain: string, hostPublicKeyB64: string): SealedBox {
  const eph = generateKeyPairSync("x25519");
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519PublicKey(hostPublicKeyB64) });
  const key = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), SEALED_BOX_INFO, 32));
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([c.update(plain, "utf8"), c.final()]);
  return { alg: "x25519-hkdf-sha256-aes256gcm", ephemeralPublicKey: rawPublicKey(eph.publicKey), iv: iv.toString("base64"), tag: c.getAuthTag().toString("base64"), ciphertext: ciphertext.toString("base64") };
}

describe("sealed runner configs", () => {
  const host = generateKeyPairSync("x25519");
  const pub = rawPublicKey(host.privateKey);

  it("publishes the raw 32-byte public key, base64", () => {
    expect(Buffer.from(pub, "base64")).toHaveLength(32);
  });

  it("opens a box sealed to this host", () => {
    expect(openSealedBox(seal("jit-config-secret", pub), host.privateKey)).toBe("jit-config-secret");
  });

  it("refuses a box for another host or a tampered one", () => {
    const other = generateKeyPairSync("x25519");
    expect(() => openSealedBox(seal("s", rawPublicKey(other.privateKey)), host.privateKey)).toThrow(/cannot open/);
    const box = seal("secret", pub);
    const flipped = Buffer.from(box.ciphertext, "base64");
    flipped[0]! ^= 1;
    expect(() => openSealedBox({ ...box, ciphertext: flipped.toString("base64") }, host.privateKey)).toThrow(/cannot open/);
  });
});
