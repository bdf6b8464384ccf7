import { QemuDriver, type QemuDriverOptions } from "./driver.js";

export { QemuDriver, type QemuDriverOptions } from "./driver.js";
export { qemuArgv, qemuBinary, kernelCmdline, vmIdOfArgv } from "./argv.js";

/** The QEMU driver (the port's adapter for QEMU `microvm`/`virt`). */
export const createQemuDriver = (o: QemuDriverOptions): QemuDriver => new QemuDriver(o);
