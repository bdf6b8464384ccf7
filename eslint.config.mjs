// Lint rules for the whole tree (`npm run lint`). Why typescript-eslint and not Biome: docs/tooling.md.
// The rules that matter most are the last block: they keep every `core/` folder pure (house rule 2:
// state and events in, events out; the clock, ids and I/O are passed in, never reached for).
import js from "@eslint/js";
import globals from "globals";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

// Everything in a core folder, at any depth (services/*/src/core today).
const CORE = ["**/core/**/*.ts"];
const TESTS = ["**/*.test.ts", "**/*.test-kit.ts", "**/testing/**/*.ts"];
const CORE_TESTS = ["**/core/**/*.test.ts", "**/core/**/*.test-kit.ts"];

const why = "core/ is pure (STYLE.md rule 2): take it as an argument from the caller (main.ts or the loop builds it)";

// Modules whose import means I/O, a clock, randomness or a process-wide side effect.
const ioModules = [
  ...[
    "fs",
    "fs/promises",
    "child_process",
    "net",
    "http",
    "https",
    "http2",
    "dgram",
    "os",
    "dns",
    "dns/promises",
    "tls",
    "readline",
    "worker_threads",
    "cluster",
    "process",
    "timers",
    "timers/promises",
    "perf_hooks",
    "inspector",
    "v8",
    "vm",
  ].flatMap((m) => [m, `node:${m}`]),
  "pino",
  "prom-client",
  "uuid",
  "testcontainers",
  "@testcontainers/nats",
  // The runtime package is one barrel that loads NATS, pino and the ops server: nothing in it is for a core.
  "@oneshot/runtime",
  "@oneshot/testing",
];

// A test that prints SKIP and returns is counted as passed. A block that prints a line saying
// "skip" and then returns nothing is that shape; skip the test instead (it.skipIf / describe.skipIf, or
// ctx.skip(reason) inside the test), so vitest and scripts/test.mjs count it as skipped.
const printsSkip =
  "ExpressionStatement[expression.callee.property.name=/^(write|log|warn|info|error|debug)$/]:has(Literal[value=/\\bskip/i], TemplateElement[value.raw=/\\bskip/i])";
const noLoggedSkips = [
  {
    selector: `${printsSkip} ~ ReturnStatement[argument=null]`,
    message: "a test that prints SKIP and returns is counted as passed: use it.skipIf / describe.skipIf, or ctx.skip(reason) inside the test",
  },
];

// `new Date(x)` and `Date.parse(x)` are pure; only the argument-less forms read the clock.
const noClockSyntax = [
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `new Date() reads the clock in a core folder: ${why} (a "now" argument).` },
  { selector: "CallExpression[callee.name='Date']", message: `Date() reads the clock in a core folder: ${why} (a "now" argument).` },
];

export default defineConfig(
  {
    ignores: ["**/node_modules/**", "**/dist/**", "images/**", "**/.cache/**", ".state/**", "coverage/**", "bench/out/**"],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { project: "./tsconfig.eslint.json", tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      eqeqeq: ["error", "always"],
      "no-var": "error",
      // A `let` assigned once, after a closure that reads it was made (a callback wired before its target exists), stays a `let`.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      "no-throw-literal": "off", // the type-aware version below knows what is an Error
      "@typescript-eslint/only-throw-error": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      // A promise nobody awaits loses its rejection (an unhandled rejection kills the process).
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: true }],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-for-in-array": "error",
    },
  },
  // Services and libraries only (benches measure nats.js's bare defaults on purpose).
  {
    files: ["packages/*/src/**/*.ts", "services/*/src/**/*.ts"],
    rules: {
      // nats.js's default pull (30 s) left a reader deaf for 30–60 s after the NATS node serving it died.
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name='consume']:not(:has(Property[key.name='expires']))",
          message: "consume() without `expires`: pass PULL_EXPIRES_MS (@oneshot/runtime) so a lost node is noticed in seconds, not 30-60 s",
        },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  // The dashboard's page scripts run in the browser.
  { files: ["**/public/**/*.js"], languageOptions: { globals: { ...globals.browser } } },
  { files: TESTS, rules: { "no-restricted-syntax": ["error", ...noLoggedSkips] } },
  {
    files: CORE,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            ...ioModules.map((name) => ({ name, message: `I/O in a core folder: ${why}.` })),
            ...["crypto", "node:crypto"].map((name) => ({
              name,
              importNames: [
                "randomUUID",
                "randomBytes",
                "randomInt",
                "randomFill",
                "randomFillSync",
                "getRandomValues",
                "webcrypto",
                "generateKeyPair",
                "generateKeyPairSync",
              ],
              message: `randomness in a core folder: ${why} (hashes such as createHash are fine).`,
            })),
          ],
          patterns: [{ group: ["@nats-io/*", "pino-*"], message: `I/O in a core folder: ${why}.` }],
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate", "queueMicrotask"].map((name) => ({
          name,
          message: `timers in a core folder: ${why}; a deadline is a time passed in and compared.`,
        })),
        ...["process", "performance", "fetch"].map((name) => ({ name, message: `${name} in a core folder: ${why}.` })),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: `the clock in a core folder: ${why} (a "now" argument).` },
        { object: "Math", property: "random", message: `randomness in a core folder: ${why}.` },
        { object: "crypto", property: "randomUUID", message: `random ids in a core folder: ${why}.` },
        { object: "crypto", property: "getRandomValues", message: `randomness in a core folder: ${why}.` },
        ...["crypto", "process", "setTimeout", "setInterval"].map((property) => ({
          object: "globalThis",
          property,
          message: `globalThis.${property} in a core folder: ${why}.`,
        })),
      ],
      "no-restricted-syntax": ["error", ...noClockSyntax],
    },
  },
  {
    // A core's tests may read knobs such as SIM_RUNS from the environment (the code under test may not),
    // and they keep the skip rule that the core block above replaced.
    files: CORE_TESTS,
    rules: {
      "no-restricted-globals": [
        "error",
        ...["setTimeout", "setInterval", "setImmediate"].map((name) => ({ name, message: "no timers in a core's tests: pass time in" })),
      ],
      "no-restricted-syntax": ["error", ...noClockSyntax, ...noLoggedSkips],
    },
  },
);
