export class BodyTooLarge extends Error {
  override readonly name = "BodyTooLarge";
  readonly retryable = false;
  constructor(
    readonly max: number,
    readonly declared?: number,
  ) {
    super(declared !== undefined ? `body of ${declared} bytes is over the ${max}-byte cap` : `body is over the ${max}-byte cap`);
  }
}

export class BodyAborted extends Error {
  override readonly name = "BodyAborted";
  readonly retryable = false;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Node's own listener type
type Listener = (...args: any[]) => void;

/** What readBody needs of a request (an IncomingMessage): its headers and its byte stream. */
export interface BodySource {
  readonly headers: Record<string, string | string[] | undefined>;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  pause(): unknown;
}

/**
 * Reads a request body, holding at most `max` bytes. A declared Content-Length over the cap
 * fails before a byte is read; a chunked body fails as soon as it passes the cap. The stream is
 * then left paused: the caller answers 413 and closes the connection instead of reading on.
 */
export function readBody(req: BodySource, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(new BodyTooLarge(max, declared));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        done();
        req.pause();
        reject(new BodyTooLarge(max));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      done();
      reject(new BodyAborted("the client went away while sending the body", { cause: e }));
    };
    const onAborted = () => onError(new Error("aborted"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}
