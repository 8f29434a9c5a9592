import type { Machine } from "../machine/machine.js";
import { queryPci, type PciDeviceInfo } from "../pci/query-pci.js";

const U64 = (1n << 64n) - 1n;
/** QEMU prints addresses as uint64: the unmapped -1 shows as 0xffffffffffffffff and end = addr + size - 1 wraps. */
const u64 = (v: bigint): bigint => v & U64;
const hex = (v: bigint | number, width: number): string => u64(BigInt(v)).toString(16).padStart(width, "0");

/** QEMU 7.2's HMP `info pci`, line for line (hmp_info_pci_device). */
export function formatInfoPci(machine: Machine): string {
  let out = "";
  for (const bus of queryPci(machine)) for (const dev of bus.devices) out += formatDevice(dev);
  return out;
}

function formatDevice(dev: PciDeviceInfo): string {
  const lines: string[] = [];
  lines.push(`  Bus ${String(dev.bus).padStart(2)}, device ${String(dev.slot).padStart(3)}, function ${dev.function}:`);
  // QEMU prints an unnamed class in decimal ("Class %04" PRId64): 0x00ff is "Class 0255".
  const what = dev.class_info.desc ?? `Class ${String(dev.class_info.class).padStart(4, "0")}`;
  lines.push(`    ${what}: PCI device ${hex(dev.id.vendor, 4)}:${hex(dev.id.device, 4)}`);
  if (dev.id["subsystem-vendor"] !== undefined && dev.id.subsystem !== undefined) {
    lines.push(`      PCI subsystem ${hex(dev.id["subsystem-vendor"], 4)}:${hex(dev.id.subsystem, 4)}`);
  }
  if (dev.irq !== undefined) lines.push(`      IRQ ${dev.irq}, pin ${String.fromCharCode(65 + dev.irq_pin - 1)}`);
  const br = dev.pci_bridge;
  if (br) {
    lines.push(`      BUS ${br.bus.number}.`);
    lines.push(`      secondary bus ${br.bus.secondary}.`);
    lines.push(`      subordinate bus ${br.bus.subordinate}.`);
    lines.push(`      IO range [0x${hex(br.bus.io_range.base, 4)}, 0x${hex(br.bus.io_range.limit, 4)}]`);
    lines.push(`      memory range [0x${hex(br.bus.memory_range.base, 8)}, 0x${hex(br.bus.memory_range.limit, 8)}]`);
    lines.push(
      `      prefetchable memory range [0x${hex(br.bus.prefetchable_range.base, 8)}, 0x${hex(br.bus.prefetchable_range.limit, 8)}]`,
    );
  }
  for (const r of dev.regions) {
    const end = r.address + BigInt(r.size) - 1n;
    if (r.type === "io") {
      lines.push(`      BAR${r.bar}: I/O at 0x${hex(r.address, 4)} [0x${hex(end, 4)}].`);
    } else {
      lines.push(
        `      BAR${r.bar}: ${r.mem_type_64 ? 64 : 32} bit${r.prefetch ? " prefetchable" : ""} memory at 0x${hex(r.address, 8)} [0x${hex(end, 8)}].`,
      );
    }
  }
  lines.push(`      id "${dev.qdev_id}"`);
  let out = lines.join("\n") + "\n";
  for (const child of br?.devices ?? []) out += formatDevice(child);
  return out;
}
