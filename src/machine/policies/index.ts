/** The built-in allocation policies: importing this module registers them (`--allocator help` lists them). */
export { QemuPolicy } from "./qemu.js";
export { ExplicitFirstPolicy } from "./explicit-first.js";
export { AppendOnlyPolicy } from "./append-only.js";
export { IrqBalancePolicy } from "./irq-balance.js";
export { HotplugReservePolicy } from "./hotplug-reserve.js";
export { AutoBridgePolicy } from "./auto-bridge.js";
export { RandomPolicy } from "./random.js";
