import { randomBytes } from "node:crypto";
import { v7 } from "uuid";

/** Sortable unique id for envelopes and correlation ids. */
export const newEventId = (): string => v7();

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
/** A VM id: 10 chars of [a-z0-9] so `os-<vmId>` fits Linux's 15-char interface names. */
export function newVmId(): string {
  const bytes = randomBytes(10);
  let id = "";
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}
