import { createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SEALED_BOX_INFO, SealedBoxError, open, rawPublicKey, seal } from "./sealed-box.js";

describe("sealed box", () => {
  const host = generateKeyPairSync("x25519");
  const other = generateKeyPairSync("x25519");

  it("opens with the recipient's key only", () => {
    const box = seal("jit-config-secret", rawPublicKey(host.publicKey));
    expect(box.ciphertext).not.toContain("jit-config-secret");
    expect(open(box, host.privateKey)).toBe("jit-config-secret");
    expect(() => open(box, other.privateKey)).toThrow(SealedBoxError);
  });

  it("detects tampering and uses a fresh key every time", () => {
    const pk = rawPublicKey(host.publicKey);
    const a = seal("x", pk);
    const b = seal("x", pk);
    expect(a.ephemeralPublicKey).not.toBe(b.ephemeralPublicKey);
    const flipped = Buffer.from(a.ciphertext, "base64");
    flipped[0]! ^= 1;
    expect(() => open({ ...a, ciphertext: flipped.toString("base64") }, host.privateKey)).toThrow(/tampered/);
  });

  it("refuses a malformed public key", () => {
    expect(() => seal("x", Buffer.alloc(31).toString("base64"))).toThrow(/32 bytes/);
  });
});

describe("sealed box format (what another implementation must do to open it)", () => {
  const host = generateKeyPairSync("x25519");

  it("is X25519 with an ephemeral key → HKDF-SHA256 (empty salt, the info string) → AES-256-GCM with a 12-byte IV", () => {
    const box = seal("the secret", rawPublicKey(host.publicKey));
    expect(box.alg).toBe("x25519-hkdf-sha256-aes256gcm");
    const iv = Buffer.from(box.iv, "base64");
    const tag = Buffer.from(box.tag, "base64");
    expect([iv.length, tag.length, Buffer.from(box.ephemeralPublicKey, "base64").length]).toEqual([12, 16, 32]);
    // Derived here step by step, independently of open().
    const eph = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(box.ephemeralPublicKey, "base64").toString("base64url") }, format: "jwk" });
    const shared = diffieHellman({ privateKey: host.privateKey, publicKey: eph });
    const key = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), SEALED_BOX_INFO, 32));
    const d = createDecipheriv("aes-256-gcm", key, iv);
    d.setAuthTag(tag);
    expect(Buffer.concat([d.update(Buffer.from(box.ciphertext, "base64")), d.final()]).toString("utf8")).toBe("the secret");
  });

  it("round-trips any text, and refuses a box with any part changed (property)", () => {
    const pk = rawPublicKey(host.publicKey);
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 2000 }), fc.constantFrom("iv", "tag", "ciphertext", "ephemeralPublicKey"), (text, part) => {
        const box = seal(text, pk);
        expect(open(box, host.privateKey)).toBe(text);
        const bytes = Buffer.from(box[part], "base64");
        if (bytes.length === 0) return;
        // Not the top bit of the key's last byte: X25519 ignores it (RFC 7748), so that is the same key.
        bytes[0]! ^= 0x01;
        expect(() => open({ ...box, [part]: bytes.toString("base64") }, host.privateKey)).toThrow(SealedBoxError);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses an unknown algorithm", () => {
    const box = seal("x", rawPublicKey(host.publicKey));
    expect(() => open({ ...box, alg: "rot13" } as unknown as typeof box, host.privateKey)).toThrow(/unknown sealed box algorithm/);
  });
});
