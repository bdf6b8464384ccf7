import type { IncomingMessage, ServerResponse } from "node:http";

export interface Recorded {
  method: string;
  path: string;
  body: unknown;
  status: number;
  /** The query string (without `?`), when there was one. */
  query?: string;
}

/**
 * For the API stand-ins: reads a request's JSON body (raw text when it is not JSON) and gives a
 * `send` that answers and records the call (never its headers, so no credential is kept).
 */
export function onRequest(
  calls: Recorded[] | ((r: Recorded, req: IncomingMessage) => void),
  handle: (
    req: IncomingMessage,
    path: string,
    body: unknown,
    send: (status: number, payload?: unknown, headers?: Record<string, string>) => void,
    query: URLSearchParams,
    raw: string,
  ) => void,
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      const [path = "", q] = (req.url ?? "").split("?") as [string, string | undefined];
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      let sent = false;
      handle(
        req,
        path,
        body,
        (status, payload, headers = {}) => {
          if (sent) return;
          sent = true;
          const rec: Recorded = { method: req.method ?? "", path, body, status, ...(q ? { query: q } : {}) };
          if (typeof calls === "function") calls(rec, req);
          else calls.push(rec);
          if (res.destroyed) return;
          const text = typeof payload === "string";
          res.writeHead(status, payload === undefined ? headers : { "content-type": text ? "text/plain" : "application/json", ...headers });
          res.end(payload === undefined ? undefined : text ? payload : JSON.stringify(payload));
        },
        new URLSearchParams(q ?? ""),
        raw,
      );
    });
  };
}
