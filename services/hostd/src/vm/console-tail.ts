import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";

/**
 * Follows a growing console log file and hands new text to `onText` in order, with the byte
 * offset where it starts (so VmOutput chunks show gaps and repeats). Polls: a console log is
 * written by the VMM's pipe in small bursts, and a poll also works where inotify does not.
 */
export class ConsoleTail {
  private offset = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private readonly decoder = new StringDecoder("utf8");

  constructor(
    private readonly path: string,
    private readonly onText: (text: string, offset: number) => void,
    private readonly everyMs = 50,
    private readonly maxChunk = 32 * 1024,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.poll(), this.everyMs);
  }

  /** Reads whatever is new now (serialised: one read at a time). */
  poll(): Promise<void> {
    this.reading = this.reading.then(() => this.readNew()).catch(() => undefined);
    return this.reading;
  }

  /** Stops polling after one last read of everything written so far. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
    const rest = this.decoder.end();
    if (rest) this.onText(rest, this.offset);
  }

  private async readNew(): Promise<void> {
    const fh = await open(this.path, "r").catch(() => undefined);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(this.maxChunk);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) return;
        const at = this.offset;
        this.offset += bytesRead;
        const text = this.decoder.write(buf.subarray(0, bytesRead));
        if (text) this.onText(text, at);
      }
    } finally {
      await fh.close();
    }
  }
}
