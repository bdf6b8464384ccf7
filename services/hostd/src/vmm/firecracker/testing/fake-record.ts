import { appendFileSync, readFileSync } from "node:fs";

/** One line of the fakes' record file (JSON lines, appended by each process). */
export type FakeRecord =
  | { who: "jailer"; argv: string[]; uid: number; gid: number }
  | { who: "firecracker"; method: string; path: string; body: unknown; status: number; fault?: string }
  | { who: "firecracker"; event: "exit"; code: number; why: string }
  | { who: "firecracker"; event: "job-drive"; header: string; size: number };

export function appendRecord(file: string | undefined, r: FakeRecord): void {
  if (file) appendFileSync(file, JSON.stringify(r) + "\n");
}

export function readRecords(file: string): FakeRecord[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FakeRecord);
}
