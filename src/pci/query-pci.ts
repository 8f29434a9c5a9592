import type { Machine } from "../machine/machine.js";
import type { PciBridgeDevice } from "./bridge.js";
import type { PciBus } from "./bus.js";
import {
  PCI_CLASS_DEVICE,
  PCI_DEVICE_ID,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_PRIMARY_BUS,
  PCI_SECONDARY_BUS,
  PCI_SUBORDINATE_BUS,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
  pciFunc,
  pciSlot,
} from "./constants.js";
import type { PciFunction } from "./function.js";

/** QEMU's class descriptions (pci_class_descriptions), used by `info pci` and query-pci. */
const CLASS_DESCRIPTIONS = new Map<number, string>([
  [0x0001, "VGA controller"],
  [0x0100, "SCSI controller"],
  [0x0101, "IDE controller"],
  [0x0102, "Floppy controller"],
  [0x0103, "IPI controller"],
  [0x0104, "RAID controller"],
  [0x0106, "SATA controller"],
  [0x0107, "SAS controller"],
  [0x0180, "Storage controller"],
  [0x0200, "Ethernet controller"],
  [0x0201, "Token Ring controller"],
  [0x0202, "FDDI controller"],
  [0x0203, "ATM controller"],
  [0x0280, "Network controller"],
  [0x0300, "VGA controller"],
  [0x0301, "XGA controller"],
  [0x0302, "3D controller"],
  [0x0380, "Display controller"],
  [0x0400, "Video controller"],
  [0x0401, "Audio controller"],
  [0x0402, "Phone"],
  [0x0403, "Audio controller"],
  [0x0480, "Multimedia controller"],
  [0x0500, "RAM controller"],
  [0x0501, "Flash controller"],
  [0x0580, "Memory controller"],
  [0x0600, "Host bridge"],
  [0x0601, "ISA bridge"],
  [0x0602, "EISA bridge"],
  [0x0603, "MC bridge"],
  [0x0604, "PCI bridge"],
  [0x0605, "PCMCIA bridge"],
  [0x0606, "NUBUS bridge"],
  [0x0607, "CARDBUS bridge"],
  [0x0608, "RACEWAY bridge"],
  [0x0680, "Bridge"],
  [0x0700, "Serial port"],
  [0x0701, "Parallel port"],
  [0x0800, "Interrupt controller"],
  [0x0801, "DMA controller"],
  [0x0802, "Timer"],
  [0x0803, "RTC"],
  [0x0900, "Keyboard"],
  [0x0901, "Pen"],
  [0x0902, "Mouse"],
  [0x0a00, "Dock station"],
  [0x0b00, "i386 cpu"],
  [0x0c00, "Firewire controller"],
  [0x0c01, "Access bus controller"],
  [0x0c02, "SSA controller"],
  [0x0c03, "USB controller"],
  [0x0c04, "Fibre channel controller"],
  [0x0c05, "SMBus"],
]);

export function classDescription(classCode: number): string | undefined {
  return CLASS_DESCRIPTIONS.get(classCode);
}

export interface PciRegionInfo {
  bar: number;
  type: "io" | "memory";
  /** -1 (QEMU's PCI_BAR_UNMAPPED) while the BAR decodes nothing. */
  address: bigint;
  size: number;
  prefetch?: boolean;
  mem_type_64?: boolean;
}

export interface PciBridgeInfo {
  bus: {
    number: number;
    secondary: number;
    subordinate: number;
    io_range: { base: bigint; limit: bigint };
    memory_range: { base: bigint; limit: bigint };
    prefetchable_range: { base: bigint; limit: bigint };
  };
  devices?: PciDeviceInfo[];
}

/** One function, shaped and named like QMP's PciDeviceInfo. */
export interface PciDeviceInfo {
  bus: number;
  slot: number;
  function: number;
  class_info: { desc?: string; class: number };
  id: { vendor: number; device: number; "subsystem-vendor"?: number; subsystem?: number };
  irq?: number;
  irq_pin: number;
  qdev_id: string;
  pci_bridge?: PciBridgeInfo;
  regions: PciRegionInfo[];
}

export interface PciBusInfo {
  bus: number;
  devices: PciDeviceInfo[];
}

/** QEMU's qmp_query_pci: the root bus and, through bridges the guest numbered, the buses below. */
export function queryPci(machine: Machine): PciBusInfo[] {
  return [{ bus: 0, devices: queryBus(machine.rootBus, 0) }];
}

function queryBus(bus: PciBus, busNumber: number): PciDeviceInfo[] {
  return [...bus].map((fn) => queryFunction(fn, bus, busNumber));
}

function queryFunction(fn: PciFunction, bus: PciBus, busNumber: number): PciDeviceInfo {
  const s = fn.space;
  const classCode = s.get16(PCI_CLASS_DEVICE);
  const desc = classDescription(classCode);
  const info: PciDeviceInfo = {
    bus: busNumber,
    slot: pciSlot(fn.devfn),
    function: pciFunc(fn.devfn),
    class_info: desc ? { desc, class: classCode } : { class: classCode },
    id: { vendor: s.get16(PCI_VENDOR_ID), device: s.get16(PCI_DEVICE_ID) },
    irq_pin: s.get8(PCI_INTERRUPT_PIN),
    qdev_id: fn.owner.id ?? "",
    regions: [],
  };
  if (info.irq_pin !== 0) info.irq = s.get8(PCI_INTERRUPT_LINE);
  if (fn.isType1) {
    info.pci_bridge = queryBridge(fn, bus);
  } else if (fn.headerType === 0) {
    info.id["subsystem-vendor"] = s.get16(PCI_SUBSYSTEM_VENDOR_ID);
    info.id.subsystem = s.get16(PCI_SUBSYSTEM_ID);
  }
  for (const bar of fn.bars) {
    if (!bar) continue;
    const region: PciRegionInfo = { bar: bar.index, type: bar.isIo ? "io" : "memory", address: bar.address, size: bar.size };
    if (!bar.isIo) {
      region.prefetch = (bar.type & 0x08) !== 0;
      region.mem_type_64 = bar.is64;
    }
    info.regions.push(region);
  }
  return info;
}

function queryBridge(fn: PciFunction, bus: PciBus): PciBridgeInfo {
  const c = fn.space.config;
  const [io, mem, pref] = (fn.owner as unknown as PciBridgeDevice).windowsNow();
  const info: PciBridgeInfo = {
    bus: {
      number: c[PCI_PRIMARY_BUS]!,
      secondary: c[PCI_SECONDARY_BUS]!,
      subordinate: c[PCI_SUBORDINATE_BUS]!,
      io_range: { base: io!.base, limit: io!.limit },
      memory_range: { base: mem!.base, limit: mem!.limit },
      prefetchable_range: { base: pref!.base, limit: pref!.limit },
    },
  };
  const secondary = c[PCI_SECONDARY_BUS]!;
  if (secondary !== 0) {
    const child = bus.root.findBus(secondary);
    if (child) info.devices = queryBus(child, secondary);
  }
  return info;
}

/** JSON with 64-bit integers written exactly (QMP prints int64; -1 for unmapped BARs). */
export function queryPciJson(machine: Machine): string {
  return JSON.stringify(queryPci(machine), (_k, v) => (typeof v === "bigint" ? `__bigint:${v}` : v), 2).replace(
    /"__bigint:(-?\d+)"/g,
    "$1",
  );
}
