#!/usr/bin/env node
// The fake `firecracker` binary: loads the TypeScript fake through tsx (tests only).
import { register } from "tsx/esm/api";

globalThis.__oneshotTsx ??= register();
const { runFakeFirecracker } = await import("./fake-firecracker.ts");
await runFakeFirecracker(process.argv.slice(2), process.env);
