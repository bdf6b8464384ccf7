import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface HostKey {
  privateKey: KeyObject;
  /** base64 of the raw 32-byte X25519 public key (what HostRegistered and RunnerConfigRequest carry). */
  publicKey: string;
  path: string;
  created: boolean;
}

/** The raw 32-byte public key of an X25519 key (private or public), base64. */
export function rawPublicKey(key: KeyObject): string {
  const jwk = (key.type === "public" ? key : createPublicKey(key)).export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url").toString("base64");
}

/**
 * The host's X25519 key pair: runner configs are sealed to its public key. The private key
 * lives in a 0600 PEM file (directory 0700), created at first start; a file that others can
 * read is tightened back to 0600 (and reported through `tightened`).
 */
export async function loadOrCreateHostKey(path: string): Promise<HostKey & { tightened: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await stat(path).catch(() => undefined);
  if (existing) {
    let tightened = false;
    if ((existing.mode & 0o077) !== 0) {
      await chmod(path, 0o600);
      tightened = true;
    }
    const privateKey = createPrivateKey(await readFile(path, "utf8"));
    if (privateKey.asymmetricKeyType !== "x25519") throw new Error(`${path}: not an X25519 private key (${privateKey.asymmetricKeyType})`);
    return { privateKey, publicKey: rawPublicKey(privateKey), path, created: false, tightened };
  }
  const { privateKey } = generateKeyPairSync("x25519");
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, pem, { mode: 0o600, flag: "wx" });
  await rename(tmp, path);
  return { privateKey, publicKey: rawPublicKey(privateKey), path, created: true, tightened: false };
}
