/**
 * One line of the registry's access log (distribution 2.8 writes the combined log format on
 * stdout): `10.1.2.3 - - [02/Dec/2026:07:14:53 +0000] "GET /v2/library/alpine/blobs/sha256:<hex> HTTP/1.1" 200 3412 "" "docker/20.10.24 …"`.
 * Pure; the mirror reads what was used (and by whom) from it.
 */
export interface AccessLine {
  client: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  /** `/v2/<repo>/blobs/<digest>`: the blob's repository and digest. */
  blob?: { repo: string; digest: string };
  /** `/v2/<repo>/manifests/<reference>`: a tag or a digest. */
  manifest?: { repo: string; reference: string };
}

const LINE = /^(\S+) \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) [^"]*" (\d{3}) (\d+|-)/;
const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([A-Za-z0-9_.:-]{1,150})$/;

/** The request an access-log line records, or undefined for any other line (the registry's own log). */
export function parseAccessLine(line: string): AccessLine | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const path = m[3]!.split("?")[0]!;
  const out: AccessLine = { client: m[1]!, method: m[2]!, path, status: Number(m[4]), bytes: m[5] === "-" ? 0 : Number(m[5]) };
  const b = BLOB.exec(path);
  if (b) out.blob = { repo: b[1]!, digest: b[2]! };
  const mf = MANIFEST.exec(path);
  if (mf) out.manifest = { repo: mf[1]!, reference: mf[2]! };
  return out;
}

/** A blob a client fetched (GET answered 200): the pruner counts it as used now. */
export const blobServed = (l: AccessLine | undefined): string | undefined => (l?.blob && l.method === "GET" && l.status === 200 ? l.blob.digest : undefined);
