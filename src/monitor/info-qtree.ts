import { PciDevice, pciCommonProperties } from "../pci/device.js";
import type { PciBridgeDevice } from "../pci/bridge.js";
import type { PciBus } from "../pci/bus.js";
import { PCI_CLASS_DEVICE, PCI_DEVICE_ID, PCI_SUBSYSTEM_ID, PCI_SUBSYSTEM_VENDOR_ID, PCI_VENDOR_ID } from "../pci/constants.js";
import { classDescription } from "../pci/query-pci.js";
import type { Machine, PlacedDevice } from "../machine/machine.js";
import type { PropertyDef } from "../machine/properties.js";

/** QEMU's order of the common PCI properties in `info qtree` (after the device's own). */
const COMMON_ORDER = [
  "addr",
  "romfile",
  "romsize",
  "rombar",
  "multifunction",
  "x-pcie-lnksta-dllla",
  "x-pcie-extcap-init",
  "failover_pair_id",
  "acpi-index",
];
const U64 = (1n << 64n) - 1n;

/**
 * The PCI part of QEMU's `info qtree`: every device with its resolved properties and, as
 * pcibus_dev_print shows them, its class, address, ids and BARs; buses behind bridges nested.
 * Devices are listed newest first, as QEMU's qdev lists them.
 */
export function formatQtree(machine: Machine): string {
  return formatBus(machine, machine.rootBus, 0);
}

function formatBus(machine: Machine, bus: PciBus, indent: number): string {
  const pad = " ".repeat(indent);
  let out = `${pad}bus: ${bus.name}\n${pad}  type ${bus.express ? "PCIE" : "PCI"}\n`;
  const placed = machine.devices().filter((p) => p.device instanceof PciDevice && p.device.function.bus === bus);
  for (const p of [...placed].reverse()) out += formatDevice(machine, p, indent + 2);
  return out;
}

function formatDevice(machine: Machine, p: PlacedDevice, indent: number): string {
  const pad = " ".repeat(indent + 2);
  const { info, props } = p;
  const device = p.device as PciDevice;
  const fn = device.function;
  let out = `${" ".repeat(indent)}dev: ${info.name}, id "${device.id ?? ""}"\n`;
  const own = Object.keys(info.properties).filter((k) => !(k in pciCommonProperties));
  const common = COMMON_ORDER.filter((k) => k in info.properties);
  for (const name of [...own, ...common].filter((n) => info.properties[n]!.inQtree)) {
    let value = props[name];
    if (name === "romsize" && fn.bars[6]) value = fn.bars[6].size; // QEMU shows the size it gave the ROM
    out += `${pad}${name} = ${qtreeValue(info.properties[name]!, value)}\n`;
  }
  const s = fn.space;
  const cls = s.get16(PCI_CLASS_DEVICE);
  const h4 = (v: number): string => v.toString(16).padStart(4, "0");
  out += `${pad}class ${classDescription(cls) ?? `Class ${h4(cls)}`}, addr ${fn.bdf}, pci id ${h4(s.get16(PCI_VENDOR_ID))}:${h4(s.get16(PCI_DEVICE_ID))} (sub ${h4(s.get16(PCI_SUBSYSTEM_VENDOR_ID))}:${h4(s.get16(PCI_SUBSYSTEM_ID))})\n`;
  for (const bar of fn.bars) {
    if (!bar) continue;
    const addr = bar.address & U64;
    out += `${pad}bar ${bar.index}: ${bar.isIo ? "i/o" : "mem"} at 0x${addr.toString(16)} [0x${((addr + BigInt(bar.size) - 1n) & U64).toString(16)}]\n`;
  }
  const bridge = device as Partial<PciBridgeDevice>;
  if (bridge.hasSecondaryBus) out += formatBus(machine, (device as PciBridgeDevice).secondaryBus, indent + 2);
  return out;
}

/** QEMU's qtree spelling of a value: strings quoted, integers "N (0xN)", booleans true/false. */
function qtreeValue(def: PropertyDef<unknown>, value: unknown): string {
  const type = def.type.name;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" && def.type.cType) return `${value} (0x${(value >>> 0).toString(16)})`;
  if (typeof value === "number") return def.type.format(value);
  if (type === "str" || typeof value === "string") return `"${String(value)}"`;
  return def.type.format(value);
}
