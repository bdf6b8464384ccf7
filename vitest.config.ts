import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));
// Tests import the workspace packages' TypeScript sources directly (no build needed);
// processes that tests spawn run the built `dist/` (npm test builds first).
const alias = {
  "@oneshot/proto": src("./proto/src/index.ts"),
  "@oneshot/runtime": src("./packages/runtime/src/index.ts"),
  "@oneshot/testing": src("./packages/testing/src/index.ts"),
  "@oneshot/scheduler": src("./services/scheduler/src/index.ts"),
  "@oneshot/hostd": src("./services/hostd/src/index.ts"),
  "@oneshot/cli/read-models": src("./packages/cli/src/read-models.ts"),
};
// images/ holds guest root trees (debootstrap, with /proc mounted while they build): never crawl them.
const exclude = ["**/node_modules/**", "**/dist/**", "images/**", "**/.cache/**"];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      { resolve: { alias }, test: { name: "unit", include: ["**/*.unit.test.ts"], exclude } },
      {
        resolve: { alias },
        test: { name: "int", include: ["**/*.int.test.ts"], exclude, testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        resolve: { alias },
        // Real QEMU guests under software emulation: one file at a time on a 2-core machine.
        test: { name: "e2e", include: ["**/*.e2e.test.ts"], exclude, testTimeout: 300_000, hookTimeout: 300_000, fileParallelism: false },
      },
      {
        resolve: { alias },
        // The chaos suite's short version (`npm run test:chaos`, the last tier of `npm test`):
        // a 1,000-job burst over a simulated fleet while every service and NATS node dies.
        // `npm run chaos` is the long version.
        test: { name: "chaos", include: ["**/*.chaos.test.ts"], exclude, testTimeout: 720_000, hookTimeout: 300_000, fileParallelism: false },
      },
    ],
  },
});
