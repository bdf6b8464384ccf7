/** Base for oneshot errors: carries whether retrying can help, and the ids involved. */
export class OneshotError extends Error {
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable;
  }
}

/** Another writer appended to the subject first (JetStream 10071): re-read and decide again. */
export class ConcurrencyError extends OneshotError {
  constructor(
    readonly subject: string,
    readonly expectedSeq: number,
    cause?: unknown,
  ) {
    super(`concurrent append to ${subject} (expected last seq ${expectedSeq})`, { retryable: true, cause });
  }
}

/** A transient failure (NATS down, timeout): the same call may succeed later. */
export class RetryableError extends OneshotError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

/** Retrying cannot help: the message goes to the dead-letter subject with this reason. */
export class TerminalError extends OneshotError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: false, cause });
  }
}

export class StoreUnavailableError extends OneshotError {
  constructor(
    readonly subject: string,
    cause?: unknown,
  ) {
    super(`event store unavailable while appending to ${subject}`, { retryable: true, cause });
  }
}

export class ConfigError extends OneshotError {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`, { retryable: false });
  }
}

export const isRetryable = (e: unknown): boolean => typeof e === "object" && e !== null && (e as { retryable?: unknown }).retryable === true;
