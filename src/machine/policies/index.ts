import { PolicyCatalogue } from "../allocation-policy.js";
import { AppendOnlyPolicy } from "./append-only.js";
import { AutoBridgePolicy } from "./auto-bridge.js";
import { AutoRootPortPolicy } from "./auto-root-port.js";
import { ExplicitFirstPolicy } from "./explicit-first.js";
import { HotplugReservePolicy } from "./hotplug-reserve.js";
import { IrqBalancePolicy } from "./irq-balance.js";
import { QemuPolicy } from "./qemu.js";
import { RandomPolicy } from "./random.js";

export {
  AppendOnlyPolicy,
  AutoBridgePolicy,
  AutoRootPortPolicy,
  ExplicitFirstPolicy,
  HotplugReservePolicy,
  IrqBalancePolicy,
  QemuPolicy,
  RandomPolicy,
};

/** machbus's own allocation policies (`--allocator help` lists them); the default catalogue of every machine. */
export const builtinPolicies = new PolicyCatalogue([
  QemuPolicy,
  ExplicitFirstPolicy,
  AppendOnlyPolicy,
  IrqBalancePolicy,
  HotplugReservePolicy,
  AutoBridgePolicy,
  AutoRootPortPolicy,
  RandomPolicy,
]);
