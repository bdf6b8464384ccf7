import type { IncomingMessage, ServerResponse } from "node:http";

export interface Recorded {
  method: string;
  path: string;
  body: unknown;
  status: number;
}

/**
 * For the API stand-ins: reads a request's JSON body (raw text when it is not JSON) and gives a
 * `send` that answers and records the call (never its headers, so no credential is kept).
 */
export function onRequest(
  calls: Recorded[],
  handle: (req: IncomingMessage, path: string, body: unknown, send: (status: number, payload?: unknown, headers?: Record<string, string>) => void) => void,
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]!;
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      handle(req, path, body, (status, payload, headers = {}) => {
        calls.push({ method: req.method ?? "", path, body, status });
        res.writeHead(status, payload === undefined ? headers : { "content-type": "application/json", ...headers });
        res.end(payload === undefined ? undefined : JSON.stringify(payload));
      });
    });
  };
}
