import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";

/**
 * Copies a VMM's console stream (its stdout) into `path`, keeping at most `maxBytes`: a guest
 * printing forever cannot fill the host's disk. Past the cap one notice line is written and
 * the rest is read and dropped (the VMM must never block on a full pipe). Resolves when the
 * stream ends and the file is flushed.
 */
export function pipeCapped(from: Readable, path: string, maxBytes: number): Promise<{ bytes: number; truncated: boolean }> {
  const out = createWriteStream(path, { flags: "a", mode: 0o600 });
  let bytes = 0;
  let truncated = false;
  return new Promise((resolve) => {
    from.on("data", (chunk: Buffer) => {
      if (truncated) return;
      const room = maxBytes - bytes;
      if (chunk.length <= room) {
        bytes += chunk.length;
        out.write(chunk);
        return;
      }
      if (room > 0) out.write(chunk.subarray(0, room));
      bytes = maxBytes;
      truncated = true;
      out.write(`\n[oneshot: console truncated at ${maxBytes} bytes]\n`);
    });
    const finish = () => out.end(() => resolve({ bytes, truncated }));
    from.once("end", finish);
    from.once("error", finish);
  });
}
