import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SealedBoxError, open, rawPublicKey, seal } from "./sealed-box.js";

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
