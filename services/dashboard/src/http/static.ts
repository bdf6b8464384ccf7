import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { join } from "node:path";

/** The app's own files, by name: nothing else on disk is reachable. */
const files: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

export async function serveStatic(dir: string, path: string, res: ServerResponse): Promise<boolean> {
  const f = files[path];
  if (!f) return false;
  const body = await readFile(join(dir, f.file));
  res.writeHead(200, { "content-type": f.type, "cache-control": "no-cache" });
  res.end(body);
  return true;
}
