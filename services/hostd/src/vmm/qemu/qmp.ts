import { createConnection } from "node:net";

/**
 * Sends one QMP command over the VM's unix socket (after the capabilities handshake) and
 * resolves with the reply, or rejects on error/timeout. QEMU closing the socket right after
 * `quit` counts as success for `quit`.
 */
export function qmpCommand(socket: string, command: string, timeoutMs = 3_000, args?: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let buf = "";
    let stage: "greeting" | "caps" | "cmd" = "greeting";
    let settled = false;
    const done = (err: Error | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`QMP ${command}: no answer within ${timeoutMs}ms`)), timeoutMs);
    s.on("error", (e) => done(e));
    s.on("close", () => (stage === "cmd" && command === "quit" ? done(undefined, {}) : done(new Error(`QMP socket closed during ${stage}`))));
    s.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (msg.event) continue;
        if (stage === "greeting" && msg.QMP) {
          // Both at once: QMP answers in order, so the command's reply follows the handshake's
          // (one round trip less; the warm hand-over's doorbell is on a job's pickup path).
          stage = "caps";
          s.write(
            JSON.stringify({ execute: "qmp_capabilities" }) + "\n" + JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + "\n",
          );
        } else if (stage === "caps") {
          if (msg.error) return done(new Error(`QMP qmp_capabilities: ${msg.error.desc}`));
          stage = "cmd";
        } else if (stage === "cmd") {
          if (msg.error) return done(new Error(`QMP ${command}: ${msg.error.desc}`));
          return done(undefined, msg.return);
        }
      }
    });
  });
}
