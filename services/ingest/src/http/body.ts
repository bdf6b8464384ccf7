import type { IncomingMessage } from "node:http";

export class BodyTooLarge extends Error {
  override readonly name = "BodyTooLarge";
}

/**
 * Reads a request body up to `max` bytes. A declared Content-Length over the cap fails at
 * once without reading; a chunked body fails as soon as it passes the cap.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw new BodyTooLarge(`body of ${declared} bytes is over the ${max}-byte cap`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new BodyTooLarge(`body is over the ${max}-byte cap`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
