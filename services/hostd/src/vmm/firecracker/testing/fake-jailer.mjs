#!/usr/bin/env node
// The fake `jailer` binary: loads the TypeScript fake through tsx (tests only).
import { register } from "tsx/esm/api";

globalThis.__oneshotTsx ??= register();
const { runFakeJailer } = await import("./fake-jailer.ts");
await runFakeJailer(process.argv.slice(2), process.env);
