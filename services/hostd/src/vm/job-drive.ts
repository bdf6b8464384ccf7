import { createHash } from "node:crypto";
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { chmod, open, rm, writeFile } from "node:fs/promises";
import type { DriveFile } from "./config-drive.js";

/**
 * A warm pool VM's job drive (docs/warm-pool.md): the one channel from hostd to the VM's agent
 * at hand-over. Raw: block 0 is a one-line header, the payload (a ustar archive of the files
 * a cold config drive holds under `oneshot/`) starts at byte 4096. hostd writes it once and
 * never reads it back; the agent erases it before the job starts.
 */
export const JOB_DRIVE_MAGIC = "oneshot-job-drive-v1";
const BLOCK = 4096;
/** 1 MiB: a 256 KiB script, the launch and the archive's headers fit several times. */
export const JOB_DRIVE_BYTES = 1024 * 1024;

export class JobDriveError extends Error {
  override readonly name = "JobDriveError";
  readonly retryable = false;
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`job drive ${path}: ${message}`);
  }
}

const header = (line: string): Buffer => {
  const b = Buffer.alloc(BLOCK);
  b.write(`${line}\n`, "utf8");
  return b;
};

/** The empty drive a warm VM boots with: the header says `empty`, the rest is zeros. Rebuilt if it exists (measure, then act). */
export async function createJobDrive(path: string, bytes = JOB_DRIVE_BYTES): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, header(`${JOB_DRIVE_MAGIC} empty`), { mode: 0o600 });
  const fh = await open(path, "r+");
  try {
    await fh.truncate(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(path, 0o600);
}

/**
 * Fills the drive in place and rings: the payload first (padded with zeros to whole blocks),
 * then the header that says it is ready, with its length and the sha256 of those blocks, then
 * the file grows by one block — the doorbell: a VMM that re-reads the size (QEMU's
 * `block_resize`, Firecracker's `PATCH /drives`) tells the guest, whose agent polls only the
 * size. No fsync: the VMM reads this file through the host's page cache, where each write is
 * visible to every later read as soon as it returns, so a reader that sees `ready` sees the
 * whole payload; durability would only matter across a host crash, which ends the VM anyway.
 * Returns the payload's (padded) length and the drive's new size.
 */
export async function fillJobDrive(path: string, files: Record<string, DriveFile>): Promise<{ bytes: number; size: number }> {
  const archive = ustar(files);
  const payload = Buffer.concat([archive, Buffer.alloc((BLOCK - (archive.length % BLOCK)) % BLOCK)]);
  const sha = createHash("sha256").update(payload).digest("hex");
  // Synchronous on purpose: a few KiB into the page cache take microseconds, while each async
  // call waits its turn in libuv's thread pool behind every console tail's reads (the
  // hand-over's fill took ~19 ms that way on a busy host).
  const fd = openSync(path, "r+");
  try {
    const { size } = fstatSync(fd);
    if (BLOCK + payload.length > size) throw new JobDriveError(path, `payload of ${payload.length} bytes does not fit a ${size}-byte drive`);
    writeSync(fd, payload, 0, payload.length, BLOCK);
    writeSync(fd, header(`${JOB_DRIVE_MAGIC} ready ${payload.length} ${sha}`), 0, BLOCK, 0);
    ftruncateSync(fd, size + BLOCK);
    return { bytes: payload.length, size: size + BLOCK };
  } finally {
    closeSync(fd);
  }
}

/**
 * A ustar archive of `files` under `oneshot/` (pure): directories first, each file with its
 * mode, owner root, mtime 0. Paths are short (the config drive's names), so no prefix field.
 */
export function ustar(files: Record<string, DriveFile>): Buffer {
  const entries: Buffer[] = [];
  const dirs = new Set<string>(["oneshot/"]);
  for (const rel of Object.keys(files)) {
    const parts = rel.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`oneshot/${parts.slice(0, i).join("/")}/`);
  }
  for (const d of [...dirs].sort()) entries.push(tarHeader(d, 0o755, 0, "5"));
  for (const [rel, f] of Object.entries(files)) {
    const body = Buffer.from(f.content, "utf8");
    entries.push(tarHeader(`oneshot/${rel}`, f.mode, body.length, "0"), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  entries.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(entries);
}

function tarHeader(name: string, mode: number, size: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(name) > 99) throw new JobDriveError(name, "archive path longer than 99 bytes");
  const h = Buffer.alloc(512);
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, "0")}\0`;
  h.write(name, 0, "utf8");
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write("        ", 148); // checksum field counts as spaces while summing
  h.write(type, 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  h.write("root", 265);
  h.write("root", 297);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}
