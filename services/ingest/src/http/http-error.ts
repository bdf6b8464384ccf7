/** An answer that is not a success: the status and a message safe to show the caller. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly retryable: boolean;
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.retryable = status >= 500;
  }
}

/** A request header as one string (a repeated header is refused as absent). */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return typeof v === "string" ? v : undefined;
}
