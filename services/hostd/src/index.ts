// The public surface of @oneshot/hostd: the VMM port and its QEMU adapter, the config schema,
// and the pure pieces other packages may reuse (rule builder, command line, markers).
export * from "./vmm/port.js";
export { QemuDriver, createQemuDriver, qemuArgv, qemuBinary, kernelCmdline } from "./vmm/qemu/index.js";
export { HostdEnv, type HostdConfig } from "./config.js";
export { ConsoleMarkers } from "./vm/console-markers.js";
export { configDriveFiles, type ConfigDriveInput } from "./vm/config-drive.js";
export { baseRulesScript, vmRulesScript, vmRuleComment } from "./net/nft-rules.js";
// What `oneshot doctor` reuses to judge a host the way hostd will at start.
export { decideAccel, type AccelDecision } from "./agent/accel.js";
export { hwVirtHint, machineArch } from "./host/cpu.js";
export { findImages, type GuestImage } from "./vm/images.js";
export { cgroup2Mount } from "./vmm/cgroup/cgroup-plan.js";
