import { spawn } from "node:child_process";

/**
 * The stand-in runner's protocol, in TypeScript (what `images/agent/stand-in-runner` does in
 * busybox sh): decode the JIT config, connect, long-poll for an offer, acquire it, run the job's
 * script, report its exit code, exit. One job per runner. Used by the stand-in's own tests and
 * by tests that play a VM without booting one.
 */
export interface JitConfig {
  runner: string;
  runner_id: number;
  labels: string[];
  nonce: string;
  url?: string;
  token?: string;
}

export const decodeJitConfig = (encoded: string): JitConfig => JSON.parse(Buffer.from(encoded, "base64").toString()) as JitConfig;

export type RunnerOutcome =
  { kind: "ran"; jobId: number; exitCode: number; conclusion: string } | { kind: "removed" } | { kind: "no-url" } | { kind: "aborted" };

const shell = (script: string) =>
  new Promise<number>((resolve) => {
    const p = spawn("sh", ["-c", script], { stdio: "ignore" });
    p.once("exit", (code) => resolve(code ?? 1));
  });

export async function runStandInRunner(
  encoded: string,
  o: { run?: (script: string, jobId: number) => Promise<number>; signal?: AbortSignal; acquireDelayMs?: number } = {},
): Promise<RunnerOutcome> {
  const cfg = decodeJitConfig(encoded);
  if (!cfg.url || !cfg.token) return { kind: "no-url" };
  const headers = { authorization: `RunnerToken ${cfg.token}`, "x-runner-id": String(cfg.runner_id) };
  const call = async (method: string, path: string, body?: string) => {
    const r = await fetch(`${cfg.url}${path}`, { method, headers, body, signal: o.signal });
    return { status: r.status, text: (await r.text()).trim() };
  };
  try {
    if ((await call("POST", "/_runner/connect")).text === "removed") return { kind: "removed" };
    for (;;) {
      const p = await call("GET", "/_runner/poll");
      if (p.text === "removed") return { kind: "removed" };
      const m = /^job (\d+) (\S*)$/.exec(p.text);
      if (!m) continue;
      const jobId = Number(m[1]);
      if (o.acquireDelayMs) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, o.acquireDelayMs);
          o.signal?.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
        });
        if (o.signal?.aborted) return { kind: "aborted" };
      }
      if ((await call("POST", "/_runner/acquire", `job=${jobId}`)).status !== 200) continue;
      const script = Buffer.from(m[2]!, "base64").toString();
      const exitCode = await (o.run ?? shell)(script, jobId);
      const c = await call("POST", "/_runner/complete", `job=${jobId} exit=${exitCode}`);
      return { kind: "ran", jobId, exitCode, conclusion: c.text };
    }
  } catch (e) {
    if (o.signal?.aborted) return { kind: "aborted" };
    throw e;
  }
}
