import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Authenticated console markers (docs/guest-contract.md "Console markers"). hostd makes a
 * random key per VM and writes it in the config drive's last 4 KiB, outside the ext4
 * filesystem; the agent reads it before any job runs, erases it from the drive and appends
 * ` mac=<hex HMAC-SHA256(key, text)>` to each marker it prints. A console line is a marker only
 * when its MAC verifies: job output that looks like a marker is just output.
 */
export const MARKER_KEY_BYTES = 32;
/** The trailer block that carries the key (the agent reads `size/4096 - 1`). */
export const MARKER_KEY_BLOCK = 4096;
const TRAILER_MAGIC = "oneshot-marker-key-v1";

export const newMarkerKey = (): Buffer => randomBytes(MARKER_KEY_BYTES);

/** The drive's trailer block: `oneshot-marker-key-v1 <hex>\n`, zero-padded to 4 KiB (pure). */
export function markerKeyTrailer(key: Buffer): Buffer {
  if (key.length !== MARKER_KEY_BYTES) throw new RangeError(`marker key must be ${MARKER_KEY_BYTES} bytes`);
  const block = Buffer.alloc(MARKER_KEY_BLOCK);
  block.write(`${TRAILER_MAGIC} ${key.toString("hex")}\n`, "ascii");
  return block;
}

/** A marker line as the agent prints it (tests and fakes speak for the agent with it). */
export const signMarker = (key: Buffer, text: string): string => `${text} mac=${macOf(key, text)}`;

const macOf = (key: Buffer, text: string): string => createHmac("sha256", key).update(text, "utf8").digest("hex");

const SIGNED = /^(.*) mac=([0-9a-f]{64})$/;

/**
 * The marker text of a console line when its MAC verifies under `key`, else undefined (pure).
 * `forged` is true for a line that claims to be a marker (starts with `ONESHOT-`) without a
 * valid MAC: job output hostd ignores, counted so an attempt shows in the logs.
 */
export function verifyMarker(key: Buffer, line: string): { text: string } | { forged: boolean } {
  const m = SIGNED.exec(line);
  if (m) {
    const want = Buffer.from(macOf(key, m[1]!), "hex");
    if (timingSafeEqual(want, Buffer.from(m[2]!, "hex"))) return { text: m[1]! };
  }
  return { forged: line.startsWith("ONESHOT-") };
}
