import type { ServerResponse } from "node:http";

/** A server-sent events stream: named events with JSON data, a comment every 15 s to keep proxies from closing it. */
export function openSse(res: ServerResponse): { send: (event: string, data: unknown) => void; onClose: (f: () => void) => void } {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
  res.write("retry: 2000\n\n");
  const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
  const closers: (() => void)[] = [() => clearInterval(ping)];
  // The response closes when the browser goes away (the request's own close may come as soon as it is read).
  res.once("close", () => closers.forEach((f) => f()));
  return {
    send: (event, data) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    onClose: (f) => void closers.push(f),
  };
}
