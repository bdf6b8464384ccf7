import { createUser, fromSeed } from "@nats-io/nkeys";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * One NKey per NATS identity (admin, ingest, scheduler, janitor, hostd-<H>, audit…): the seed
 * stays in `<dir>/<name>.nk` (0600) and goes only to that service; nats-server's config holds
 * only the public key (`U…`), and login is a signed challenge, so neither the config file nor
 * the wire carries a secret. Idempotent: an existing seed is kept.
 */
export const seedFileOf = (dir: string, identity: string) => join(dir, `${identity}.nk`);

export function ensureIdentity(dir: string, identity: string): { seedFile: string; publicKey: string; created: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seedFile = seedFileOf(dir, identity);
  const created = !existsSync(seedFile);
  if (created) writeFileSync(seedFile, new TextDecoder().decode(createUser().getSeed()) + "\n", { mode: 0o600 });
  chmodSync(seedFile, 0o600);
  return { seedFile, publicKey: publicKeyOf(seedFile), created };
}

/** The public key of the user seed in `file`; a clear error when it holds something else. */
export function publicKeyOf(file: string): string {
  const seed = readFileSync(file, "utf8").trim();
  if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new Error(`${file} does not hold a user NKey seed (SU…)`);
  return fromSeed(new TextEncoder().encode(seed)).getPublicKey();
}

/** Each identity's public key, making seeds that are missing. */
export function ensureIdentities(dir: string, identities: string[]): Record<string, string> {
  return Object.fromEntries(identities.map((i) => [i, ensureIdentity(dir, i).publicKey]));
}
