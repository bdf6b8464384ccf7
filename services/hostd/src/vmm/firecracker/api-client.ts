import { request } from "node:http";
import { VmmError } from "../port.js";
import { FC_ERROR, apiFault } from "./api-error.js";

export interface ApiReply {
  status: number;
  body: string;
}

/** One HTTP/1.1 request to Firecracker's API socket; rejects only when the socket does not answer. */
export function apiRequest(socketPath: string, method: "GET" | "PUT" | "PATCH", path: string, body?: unknown, timeoutMs = 10_000): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        timeout: timeoutMs,
        headers: { Accept: "application/json", ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Firecracker's API for one VM: 2xx is success, anything else a VmmError with its fault message. */
export class FirecrackerApi {
  constructor(
    readonly vmId: string,
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async put(path: string, body: unknown): Promise<void> {
    await this.call("PUT", path, body);
  }

  async patch(path: string, body: unknown): Promise<void> {
    await this.call("PATCH", path, body);
  }

  async get<T>(path: string): Promise<T> {
    return JSON.parse((await this.call("GET", path)).body) as T;
  }

  private async call(method: "GET" | "PUT" | "PATCH", path: string, body?: unknown): Promise<ApiReply> {
    let reply: ApiReply;
    try {
      reply = await apiRequest(this.socketPath, method, path, body, this.timeoutMs);
    } catch (e) {
      throw new VmmError(this.vmId, FC_ERROR.unreachable, `Firecracker API ${method} ${path} on ${this.socketPath}: ${(e as Error).message}`, { cause: e });
    }
    if (reply.status < 200 || reply.status >= 300) throw apiFault(this.vmId, method, path, reply.status, reply.body);
    return reply;
  }
}
