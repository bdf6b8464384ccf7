import type { IncomingMessage } from "node:http";

const COOKIE = "oneshot_dashboard_session";

/** The session id from the request's cookie, if any. */
export function sessionOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) return v.join("=");
  }
  return undefined;
}

const secure = (req: IncomingMessage) => (req.headers["x-forwarded-proto"] === "https" ? "; Secure" : "");

export const sessionCookie = (id: string, req: IncomingMessage) => `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure(req)}`;
export const clearedCookie = (req: IncomingMessage) => `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure(req)}`;

/** A small JSON body (the sign-in form); larger ones are refused. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > maxBytes) throw new Error("body too large");
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}
