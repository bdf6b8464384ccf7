import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Packr } from "msgpackr";

// A projection's state as MessagePack. Maps and Sets (what projections index by) become tagged
// entry lists, in their iteration order (an order a fold may depend on: first come, first
// served); plain objects and arrays stay as they are; undefined stays undefined, so a field
// that was set to undefined and one that was never set read back as they were written.
const MAP = "$map";
const SET = "$set";
const packr = new Packr({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Packr>[0]);

function toPlain(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Map) {
    const entries: unknown[] = [];
    for (const [k, x] of v) entries.push([toPlain(k), toPlain(x)]);
    return { [MAP]: entries };
  }
  if (v instanceof Set) {
    const items: unknown[] = [];
    for (const x of v) items.push(toPlain(x));
    return { [SET]: items };
  }
  if (Array.isArray(v)) return v.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = toPlain((v as Record<string, unknown>)[k]);
  return out;
}

function fromPlain(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(fromPlain);
  const o = v as Record<string, unknown>;
  if (MAP in o && Object.keys(o).length === 1) return new Map((o[MAP] as [unknown, unknown][]).map(([k, x]) => [fromPlain(k), fromPlain(x)]));
  if (SET in o && Object.keys(o).length === 1) return new Set((o[SET] as unknown[]).map(fromPlain));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = fromPlain(o[k]);
  return out;
}

/** Encodes a projection's state (plain data, Maps and Sets; no class instances, no shared references). */
export const encodeState = (state: unknown): Uint8Array => packr.pack(toPlain(state));

/** The inverse of encodeState; throws on bytes that are not MessagePack. */
export const decodeState = <T>(bytes: Uint8Array): T => fromPlain(packr.unpack(bytes)) as T;

/**
 * A version of a fold's code: a hash of the files of `dir` (not tests), name and content. A
 * snapshot folded by other code is ignored: any change to the fold, however small, costs one full
 * replay after an upgrade and never a state that this code would not have folded.
 */
export function codeVersionOf(dir: string): string {
  const h = createHash("sha256");
  const files = readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !/\.test\.|\.d\.ts$/.test(f))
    .sort();
  for (const f of files)
    h.update(f)
      .update("\0")
      .update(readFileSync(join(dir, f)))
      .update("\0");
  return h.digest("hex").slice(0, 16);
}

/**
 * Whether a decoded state has every field of `template` (a projection's initial state), each of
 * the same kind (Map, Set, array, or typeof): a snapshot that decodes to something else is
 * refused, never half-read.
 */
export function hasShapeOf(template: object, s: unknown): boolean {
  if (typeof s !== "object" || s === null) return false;
  const got = s as Record<string, unknown>;
  return Object.entries(template).every(([k, v]) =>
    v instanceof Map
      ? got[k] instanceof Map
      : v instanceof Set
        ? got[k] instanceof Set
        : Array.isArray(v)
          ? Array.isArray(got[k])
          : v === null
            ? got[k] === null || typeof got[k] === "object"
            : typeof got[k] === typeof v,
  );
}
