/** What one doctor check concluded: `fix` says what to do whenever the verdict is not ok. */
export interface Finding {
  /** Short id, stable for `--json` readers: `kvm`, `images.amd64`, `nats`, … */
  check: string;
  verdict: "ok" | "warn" | "fail";
  /** What was found, in one line. */
  detail: string;
  /** What to change, in one line; absent when there is nothing to do. */
  fix?: string;
}

export const ok = (check: string, detail: string): Finding => ({ check, verdict: "ok", detail });
export const warn = (check: string, detail: string, fix: string): Finding => ({ check, verdict: "warn", detail, fix });
export const fail = (check: string, detail: string, fix: string): Finding => ({ check, verdict: "fail", detail, fix });

/** 1 when any check failed (a host hostd cannot run on as configured), else 0: warnings still run. */
export const exitCodeOf = (findings: Finding[]): number => (findings.some((f) => f.verdict === "fail") ? 1 : 0);

/** One line per check, then its fix indented under it, then a count. */
export function renderText(findings: Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length), 5);
  const lines = findings.flatMap((f) => [
    `${f.verdict.toUpperCase().padEnd(4)} ${f.check.padEnd(width)}  ${f.detail}`,
    ...(f.fix ? [`     ${"".padEnd(width)}  fix: ${f.fix}`] : []),
  ]);
  const n = (v: Finding["verdict"]) => findings.filter((f) => f.verdict === v).length;
  lines.push(`${n("ok")} ok, ${n("warn")} warnings, ${n("fail")} failed`);
  return `${lines.join("\n")}\n`;
}
