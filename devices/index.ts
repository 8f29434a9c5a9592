/** The device catalogue: importing this module registers every built-in driver. */
export * from "./chipset.js";
export { PciBridge } from "./pci-bridge.js";
