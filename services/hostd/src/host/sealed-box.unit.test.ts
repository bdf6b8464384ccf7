import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sealedBox } from "@oneshot/runtime";
import { rawPublicKey } from "./host-key.js";

// hostd publishes rawPublicKey(hostKey) in HostRegistered and RunnerConfigRequest; ingest
// seals to it with the runtime's sealed box, hostd opens with the private key.
describe("the host key with the shared sealed box", () => {
  const host = generateKeyPairSync("x25519");
  const pub = rawPublicKey(host.privateKey);

  it("publishes the raw 32-byte public key, base64, the same from the private or the public half", () => {
    expect(Buffer.from(pub, "base64")).toHaveLength(32);
    expect(rawPublicKey(host.publicKey)).toBe(pub);
  });

  it("opens what is sealed to that key, and nothing sealed to another", () => {
    expect(sealedBox.open(sealedBox.seal("jit-config-secret", pub), host.privateKey)).toBe("jit-config-secret");
    const other = generateKeyPairSync("x25519");
    expect(() => sealedBox.open(sealedBox.seal("s", rawPublicKey(other.privateKey)), host.privateKey)).toThrow(/cannot open/);
  });
});
