// The public surface of @oneshot/hostd: the VMM port and its QEMU adapter, the config schema,
// and the pure pieces other packages may reuse (rule builder, command line, markers).
export * from "./vmm/port.js";
export { QemuDriver, createQemuDriver, qemuArgv, qemuBinary, kernelCmdline } from "./vmm/qemu/index.js";
export { HostdEnv, type HostdConfig } from "./config.js";
export { ConsoleMarkers } from "./vm/console-markers.js";
export { configDriveFiles, type ConfigDriveInput } from "./vm/config-drive.js";
export { baseRulesScript, vmRulesScript, vmRuleComment } from "./net/nft-rules.js";
