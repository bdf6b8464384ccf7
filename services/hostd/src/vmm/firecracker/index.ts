import { FirecrackerDriver } from "./driver.js";
import type { FirecrackerDriverOptions } from "./options.js";

export { FirecrackerDriver } from "./driver.js";
export type { FirecrackerDriverOptions } from "./options.js";
export { cowCopyRaw, sparseCopy } from "./cow-copy.js";
export { jailerArgv } from "./jailer-argv.js";
export { chrootLayout } from "./chroot-layout.js";

/** The Firecracker driver (the port's adapter for Firecracker + jailer). hostd's select.ts loads this. */
export const createFirecrackerDriver = (o: FirecrackerDriverOptions): FirecrackerDriver => new FirecrackerDriver(o);
