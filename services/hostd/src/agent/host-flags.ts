import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";

/**
 * Cordon/drain survive a restart: hostd reads its host subject through a durable consumer, so
 * a HostCordoned acknowledged before a restart is not delivered again. The flags are kept in
 * a small file next to the host key.
 */
export const HostFlags = z.object({ cordoned: z.boolean(), draining: z.boolean(), deregistered: z.boolean() });
export type HostFlags = z.infer<typeof HostFlags>;

export const noFlags: HostFlags = { cordoned: false, draining: false, deregistered: false };

export async function loadFlags(path: string): Promise<HostFlags> {
  const raw = await readFile(path, "utf8").catch(() => undefined);
  if (!raw) return noFlags;
  const parsed = HostFlags.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : noFlags;
}

export async function saveFlags(path: string, f: HostFlags): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(f), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
