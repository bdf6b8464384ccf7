import { Packr } from "msgpackr";
import { z } from "zod";
import { catalog, type Message, type MessageType } from "./catalog.js";

/** The envelope around every message. `version` is the data schema version it was written with. */
export const Envelope = z.object({
  /** UUIDv7: unique and sortable by creation time. */
  id: z.string().min(1).max(64),
  type: z.string().min(1).max(64),
  version: z.number().int().positive(),
  occurredAt: z.string().datetime({ offset: true }),
  /** The webhook delivery / CLI request that started the chain. */
  correlationId: z.string().min(1).max(128),
  /** The message that directly caused this one (null for the first of a chain). */
  causationId: z.string().max(128).nullable(),
  data: z.unknown(),
});
export type Envelope = z.infer<typeof Envelope>;

export interface Meta {
  id: string;
  occurredAt: string;
  correlationId: string;
  causationId: string | null;
}

/** A decoded message: always upcast to the latest version of its type. */
export type Decoded<M extends Message = Message> = M & Meta & { version: number };
/** A decoded message with its place in a stream. */
export type Stored<M extends Message = Message> = Decoded<M> & { subject: string; seq: number };

export class DecodeError extends Error {
  override readonly name: string = "DecodeError";
  readonly retryable = false;
  constructor(
    message: string,
    readonly subject: string | undefined,
    readonly seq: number | undefined,
    readonly issues: z.core.$ZodIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(`${message} (subject=${subject ?? "?"} seq=${seq ?? "?"})`, options);
  }
}

export class EncodeError extends Error {
  override readonly name = "EncodeError";
  readonly retryable = false;
  constructor(
    readonly type: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(`invalid ${type}: ${issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
}

// Plain MessagePack maps (no record extension): a replayed log must decode without
// having seen earlier messages, and other languages must be able to read it.
// `skipValues` (drop undefined like JSON) is supported by msgpackr but missing from its types.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, skipValues: [undefined] } as ConstructorParameters<typeof Packr>[0]);

export function encode<M extends Message>(message: M, meta: Meta): Uint8Array {
  const entry = catalogEntry(message.type);
  if (!entry) throw new EncodeError(message.type, []);
  const parsed = entry.versions[entry.latest]!.safeParse(message.data);
  if (!parsed.success) throw new EncodeError(message.type, parsed.error.issues);
  const envelope: Envelope = { ...meta, type: message.type, version: entry.latest, data: parsed.data };
  return packr.pack(envelope);
}

/** The catalog's entry for a type name, only for its own keys: a type named `__proto__` or `toString` is unknown, not Object's. */
const catalogEntry = (type: string) => (Object.hasOwn(catalog, type) ? catalog[type as MessageType] : undefined);

const ISO_DATETIME = z.iso.datetime({ offset: true });
const str = (v: unknown, min: number, max: number): v is string => typeof v === "string" && v.length >= min && v.length <= max;

/** `Envelope.safeParse(raw)` for an envelope that passes, by hand; undefined: ask zod. */
function checkEnvelope(raw: unknown): { success: true; data: Envelope } | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const { id, type, version, occurredAt, correlationId, causationId } = r;
  if (!str(id, 1, 64) || !str(type, 1, 64) || typeof version !== "number" || !Number.isSafeInteger(version) || version <= 0) return undefined;
  if (!str(correlationId, 1, 128) || !(causationId === null || str(causationId, 0, 128))) return undefined;
  if (!str(occurredAt, 1, 64) || !ISO_DATETIME.safeParse(occurredAt).success) return undefined;
  return { success: true, data: { id, type, version, occurredAt, correlationId, causationId, data: r.data } };
}

/** Decodes, validates and upcasts; throws DecodeError with the subject, sequence and zod issues. */
export function decode(bytes: Uint8Array, where: { subject?: string; seq?: number } = {}): Decoded {
  const { id, occurredAt, correlationId, causationId, type, version, data } = decodeParts(bytes, where.subject, where.seq);
  return { id, occurredAt, correlationId, causationId, type, version, data } as Decoded;
}

/**
 * `decode` of a message from a stream, with its subject and sequence: the object is built once
 * with all its fields (a replay makes millions; spreading the meta into it, then adding the two
 * fields, was most of decode's own time).
 */
export function decodeStored(bytes: Uint8Array, subject: string, seq: number): Stored {
  const { id, occurredAt, correlationId, causationId, type, version, data } = decodeParts(bytes, subject, seq);
  return { id, occurredAt, correlationId, causationId, type, version, data, subject, seq } as Stored;
}

function decodeParts(bytes: Uint8Array, subject: string | undefined, seq: number | undefined): Envelope {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (cause) {
    throw new DecodeError("not MessagePack", subject, seq, [], { cause });
  }
  // The envelope is checked by hand first (a replay decodes millions of them; zod's object
  // parse was a fifth of the cost); anything the check refuses goes through zod, for its verdict
  // and its issues. Both accept exactly the same envelopes.
  const env = checkEnvelope(raw) ?? Envelope.safeParse(raw);
  if (!env.success) throw new DecodeError("bad envelope", subject, seq, env.error.issues);
  const e = env.data;
  const { type, version } = e;
  const entry = catalogEntry(type);
  if (!entry) throw new DecodeError(`unknown message type ${JSON.stringify(type)}`, subject, seq);
  const schema = entry.versions[version];
  if (!schema) throw new DecodeError(`unknown version ${type} v${version}`, subject, seq);
  const first = schema.safeParse(e.data);
  if (!first.success) throw new DecodeError(`invalid ${type} v${version}`, subject, seq, first.error.issues);
  let current: unknown = first.data;
  for (let v = version; v < entry.latest; v++) {
    const up = entry.upcasters[v];
    if (!up) throw new DecodeError(`no upcaster ${type} v${v}→v${v + 1}`, subject, seq);
    current = up(current);
  }
  if (version !== entry.latest) {
    const last = entry.versions[entry.latest]!.safeParse(current);
    if (!last.success) throw new DecodeError(`upcast ${type} invalid`, subject, seq, last.error.issues);
    current = last.data;
  }
  e.version = entry.latest;
  e.data = current;
  return e;
}

/** Reads the raw envelope without validation (for dead-letter reports and golden tests). */
export function peekEnvelope(bytes: Uint8Array): Partial<Envelope> | undefined {
  try {
    const raw = packr.unpack(bytes) as Partial<Envelope>;
    return raw && typeof raw === "object" ? raw : undefined;
  } catch {
    return undefined;
  }
}
