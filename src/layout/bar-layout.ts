import { MachbusError } from "../errors.js";
import type { Machine } from "../machine/machine.js";
import type { PciBus } from "../pci/bus.js";
import {
  PCI_BASE_ADDRESS_0,
  PCI_BRIDGE_CONTROL,
  PCI_BRIDGE_CTL_SERR,
  PCI_CAPABILITY_LIST,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_SHPC,
  PCI_CLASS_DEVICE,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_SERR,
  PCI_HEADER_TYPE,
  PCI_IO_BASE,
  PCI_IO_BASE_UPPER16,
  PCI_IO_LIMIT,
  PCI_IO_LIMIT_UPPER16,
  PCI_MEMORY_BASE,
  PCI_MEMORY_LIMIT,
  PCI_PREF_BASE_UPPER32,
  PCI_PREF_LIMIT_UPPER32,
  PCI_PREF_MEMORY_BASE,
  PCI_PREF_MEMORY_LIMIT,
  PCI_PRIMARY_BUS,
  PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS1,
  PCI_ROM_SLOT,
  PCI_SECONDARY_BUS,
} from "../pci/constants.js";
import type { PciFunction } from "../pci/function.js";

/**
 * Host-side BAR layout (F15): where firmware puts every BAR and bridge window of a machine,
 * computed from the device models without running anything. It follows SeaBIOS 1.16's
 * pci_setup() on QEMU's pc (src/fw/pciinit.c) step by step, and is checked against what the real
 * SeaBIOS assigned on QEMU 7.2 (test/fixtures/seabios): bus numbers depth first; one entry per
 * BAR (memory BARs at least 4 KiB), sorted by alignment then size, largest first; each bridge's
 * windows sized from what is behind it (I/O 4 KiB and memory 2 MiB minimum and alignment, the
 * minimum reserved on an empty hot-plug bridge); I/O from 0xc000 (0x1000 when it needs 16 KiB or
 * more); the 32-bit hole filled from its top at 0xfec00000 down to a base that depends on RAM; and
 * when that does not fit, every 64-bit BAR of the root bus moved to a window above RAM.
 */

export type RegionType = "io" | "mem" | "prefmem";
export type WindowName = "io" | "mem32" | "mem64";

/** One BAR as firmware placed it. */
export interface BarAssignment {
  /** Bus:device.function with the bus numbers firmware gives. */
  readonly bdf: string;
  /** The device, as QEMU names it in errors: "e1000" or "e1000,id=net0". */
  readonly device: string;
  readonly bar: number;
  readonly type: RegionType;
  readonly is64: boolean;
  readonly address: number;
  /** The space it takes: the BAR's size, at least 4 KiB for memory. */
  readonly size: number;
  /** The root window it ends up in (through its bridges' windows). */
  readonly window: WindowName;
}

/** One window of a bridge, as firmware programs it (base..base+size-1; size 0 leaves it closed). */
export interface BridgeWindowAssignment {
  readonly bdf: string;
  readonly device: string;
  /** The bus number behind the bridge. */
  readonly secondaryBus: number;
  readonly type: RegionType;
  readonly is64: boolean;
  readonly base: number;
  readonly size: number;
  readonly align: number;
  readonly window: WindowName;
}

/** How full one of the board's windows is. */
export interface WindowUsage {
  readonly name: WindowName;
  /** First and last address firmware may use there. */
  readonly start: number;
  readonly end: number;
  readonly size: number;
  /** Bytes taken by what fitted (BARs and bridge windows on the root bus). */
  readonly used: number;
  readonly free: number;
  /** The largest run of free addresses (alignment gaps count as free). */
  readonly largestFree: number;
  /** Bytes everything meant for this window asks for, placed or not. */
  readonly requested: number;
}

/** What did not fit: the BAR (or bridge window) firmware runs out of room for. */
export interface LayoutFailure {
  readonly window: WindowName;
  readonly device: string;
  readonly bdf: string;
  /** BAR index, or null for a bridge window. */
  readonly bar: number | null;
  readonly type: RegionType;
  readonly size: number;
  readonly message: string;
}

export interface BarLayout {
  readonly firmware: "seabios";
  readonly machineType: string;
  readonly ramSize: number;
  readonly ramBelow4g: number;
  readonly ramAbove4g: number;
  /** Bus name -> the number firmware gives it. */
  readonly busNumbers: Readonly<Record<string, number>>;
  readonly bars: BarAssignment[];
  readonly bridgeWindows: BridgeWindowAssignment[];
  readonly windows: WindowUsage[];
  /** The lines SeaBIOS prints for this (`PCI: IO: ...`, `PCI: map device ...`), up to a failure. */
  readonly log: string[];
  readonly fits: boolean;
  readonly failure?: LayoutFailure;
}

/** A layout that does not fit; `layout` has the usage report. */
export class LayoutError extends MachbusError {
  constructor(readonly layout: BarLayout) {
    super("layout-exhausted", layout.failure!.message);
  }
}

const PCI_DEVICE_MEM_MIN = 0x1000;
const PCI_BRIDGE_MEM_MIN = 0x200000;
const PCI_BRIDGE_IO_MIN = 0x1000;
const PCI_CLASS_BRIDGE_PCI = 0x0604;
const PCI_CLASS_SERIAL_USB = 0x0c03;
const PCI_PREF_RANGE_TYPE_64 = 0x01;
const PCI_EXP_FLAGS = 2;
const PCI_EXP_FLAGS_SLOT = 0x0100;
const PCI_EXP_TYPE_ROOT_PORT = 0x4;
const PCI_EXP_TYPE_DOWNSTREAM = 0x6;
const PCI_EXP_TYPE_PCI_BRIDGE = 0x7;
/** SeaBIOS's BUILD_PCIMEM_END: the 32-bit hole ends below the I/O APIC. */
const PCIMEM_END = 0xfec00000;
/** pci_io_low_end on i440FX: the legacy range 0x1000-0x9fff. */
const PCI_IO_LOW_END = 0xa000;
const GIB = 2 ** 30;
const FOUR_GIB = 2 ** 32;
/** Where the 64-bit window must end: QEMU's default CPU has 40 physical address bits (SeaBIOS 1.16 does not check). */
const PHYS_ADDR_END = 2 ** 40;
const TYPES: readonly RegionType[] = ["io", "mem", "prefmem"];

/** One thing to place: a BAR (bar >= 0) or a bridge's window for the bus behind it (bar -1). */
interface Entry {
  readonly fn: PciFunction;
  readonly bdf: string;
  readonly bar: number;
  readonly size: number;
  readonly align: number;
  readonly is64: boolean;
  readonly type: RegionType;
  readonly secondary: number;
  address: number;
  /** When firmware mapped it (the order of its log lines). */
  order: number;
}

interface Region {
  base: number;
  list: Entry[];
}

interface FwBus {
  readonly number: number;
  readonly bus: PciBus;
  /** The bridge leading to it; null for the root bus. */
  readonly bridge: PciFunction | null;
  readonly bridgeBdf: string;
  readonly regions: Record<RegionType, Region>;
}

/** The q35 host bridge SeaBIOS recognizes by its ID (8086:29c0), and where it puts MMCONFIG: 256 MiB at 0xb0000000. */
const Q35_MCH_ID = 0x29c08086;
const Q35_PCIEXBAR_END = 0xb0000000 + 0x10000000;

/**
 * SeaBIOS's start of the 32-bit hole: on q35 right above the MMCONFIG window it sets up
 * (mch_mem_addr_setup); on pc dependent on RAM (i440fx_mem_addr_setup).
 */
function pcimemStart(machine: Machine, ramBelow4g: number): number {
  if (machine.rootBus.get(0)?.space.get32(0) === Q35_MCH_ID) return Q35_PCIEXBAR_END;
  if (ramBelow4g <= 0x80000000) return 0x80000000;
  if (ramBelow4g <= 0xc0000000) return 0xc0000000;
  return ramBelow4g;
}

/** Computes the layout; a layout that does not fit comes back with `fits: false` and the failure. */
export function planBarLayout(machine: Machine): BarLayout {
  const split = machine.ramLayout;
  const log: string[] = [];
  const label = (fn: PciFunction): string => (fn.owner.id ? `${fn.owner.driver},id=${fn.owner.id}` : fn.owner.driver);

  // pci_bios_init_bus: bus numbers depth first, in scan order.
  const fwBuses: FwBus[] = [];
  const busNumbers: Record<string, number> = {};
  const addBus = (bus: PciBus, bridge: PciFunction | null, bridgeBdf: string): void => {
    const number = fwBuses.length;
    const regions = { io: { base: 0, list: [] }, mem: { base: 0, list: [] }, prefmem: { base: 0, list: [] } };
    fwBuses.push({ number, bus, bridge, bridgeBdf, regions });
    busNumbers[bus.name] = number;
    for (const fn of scan(bus)) {
      if (classOf(fn) !== PCI_CLASS_BRIDGE_PCI) continue;
      const child = bus.children.find((c) => c.parentBridge === fn);
      if (child) addBus(child, fn, bdfOf(number, fn.devfn));
    }
  };
  addBus(machine.rootBus, null, "");

  // pci_bios_check_devices: an entry per BAR in probe order (bus by bus), sorted into its bus's list.
  for (const fwBus of fwBuses) {
    for (const fn of scan(fwBus.bus)) {
      const bridge = classOf(fn) === PCI_CLASS_BRIDGE_PCI;
      for (let i = 0; i <= PCI_ROM_SLOT; i++) {
        if (bridge && i >= 2 && i < PCI_ROM_SLOT) continue;
        const bar = fn.bars[i];
        if (!bar) continue;
        const type: RegionType = bar.kind === "io" ? "io" : bar.kind !== "rom" && bar.prefetchable ? "prefmem" : "mem";
        const size = type === "io" ? bar.size : Math.max(bar.size, PCI_DEVICE_MEM_MIN);
        insert(fwBus.regions[type], entry(fn, bdfOf(fwBus.number, fn.devfn), i, size, size, type, bar.is64, -1));
      }
    }
  }
  // Bridges' windows, deepest bus first, into their parent bus's lists.
  for (let n = fwBuses.length - 1; n > 0; n--) {
    const s = fwBuses[n]!;
    const bridge = s.bridge!;
    const parent = fwBuses[busNumbers[bridge.bus!.name]!]!;
    const pcie = findCapability(bridge, PCI_CAP_ID_EXP);
    const hotplug = hotplugSupport(bridge, pcie);
    for (const type of TYPES) {
      if (!bridgeHasRegion(bridge, type)) continue;
      const region = s.regions[type];
      const align = Math.max(type === "io" ? PCI_BRIDGE_IO_MIN : PCI_BRIDGE_MEM_MIN, regionAlign(region));
      let sum = regionSum(region);
      const optional = hotplug === "pcie" && pcie !== 0 && type === "io";
      if (sum === 0 && hotplug !== "none" && !optional) sum = align; // room for a hot-plugged device
      const size = alignUp(sum, align);
      const is64 =
        type === "prefmem" &&
        (bridge.space.config[PCI_PREF_MEMORY_BASE]! & 0x0f) === PCI_PREF_RANGE_TYPE_64 &&
        region.list.every((e) => e.is64);
      insert(parent.regions[type], entry(bridge, s.bridgeBdf, -1, size, align, type, is64, s.number));
      log.push(`PCI: secondary bus ${s.number} size ${hex(size, 8)} type ${type}`);
    }
  }

  // pci_bios_map_devices
  const root = fwBuses[0]!.regions;
  const start32 = pcimemStart(machine, split.below4g);
  const base64 = alignUp(FOUR_GIB + split.above4g, GIB);
  const all = (list: Entry[]): number => regionSum({ base: 0, list });
  const windows: Record<WindowName, { start: number; end: number; entries: Entry[]; requested: number }> = {
    io: { start: 0xc000, end: 0xffff, entries: root.io.list, requested: regionSum(root.io) },
    mem32: { start: start32, end: PCIMEM_END - 1, entries: [], requested: 0 },
    mem64: { start: base64, end: PHYS_ADDR_END - 1, entries: [], requested: 0 },
  };
  const finish = (failure?: LayoutFailure): BarLayout => {
    const usage = (Object.keys(windows) as WindowName[]).map((name) => windowUsage(name, windows[name]));
    const bars: Ordered<BarAssignment>[] = [];
    const bridgeWindows: Ordered<BridgeWindowAssignment>[] = [];
    if (!failure) {
      for (const name of Object.keys(windows) as WindowName[]) {
        for (const e of windows[name].entries) collect(e, name, fwBuses, label, bars, bridgeWindows);
      }
      bars.sort((a, b) => a.order - b.order);
      bridgeWindows.sort((a, b) => a.order - b.order);
    }
    return {
      firmware: "seabios",
      machineType: machine.type.name,
      ramSize: machine.ramSize,
      ramBelow4g: split.below4g,
      ramAbove4g: split.above4g,
      busNumbers,
      bars: bars.map(({ order: _, ...b }) => b),
      bridgeWindows: bridgeWindows.map(({ order: _, ...w }) => w),
      windows: usage,
      log,
      fits: !failure,
      ...(failure ? { failure } : {}),
    };
  };

  const ioSum = regionSum(root.io);
  if (ioSum < 0x4000) root.io.base = 0xc000;
  else if (ioSum < PCI_IO_LOW_END - 0x1000) root.io.base = 0x1000;
  else {
    windows.io.start = 0x1000;
    windows.io.end = PCI_IO_LOW_END - 1;
    placeUp(root.io.list, 0x1000);
    return finish(overflow("io", windows.io, label, "I/O window"));
  }
  if (root.io.base === 0x1000) [windows.io.start, windows.io.end] = [0x1000, PCI_IO_LOW_END - 1];
  log.push(`PCI: IO: ${root.io.base.toString(16).padStart(4)} - ${(root.io.base + ioSum - 1).toString(16).padStart(4)}`);
  log.push(`PCI: 32: ${hex(start32, 16)} - ${hex(PCIMEM_END, 16)}`);
  if (!rootMemFits(root, start32)) {
    const r64 = { mem: { base: 0, list: migrate64(root.mem) }, prefmem: { base: 0, list: migrate64(root.prefmem) } };
    if (!rootMemFits(root, start32)) {
      windows.mem32.entries = [...root.mem.list, ...root.prefmem.list];
      windows.mem32.requested = all(windows.mem32.entries);
      placeUp(root.io.list, root.io.base);
      placeUp(root.mem.list, root.mem.base);
      placeUp(root.prefmem.list, root.prefmem.base);
      return finish(overflow("mem32", windows.mem32, label, "32-bit PCI hole"));
    }
    r64.mem.base = alignUp(alignUp(FOUR_GIB + split.above4g, regionAlign(r64.mem)), GIB);
    r64.prefmem.base = alignUp(alignUp(r64.mem.base + regionSum(r64.mem), regionAlign(r64.prefmem)), GIB);
    const end64 = alignUp(r64.prefmem.base + regionSum(r64.prefmem), GIB);
    log.push(`PCI: 64: ${hex(r64.mem.base, 16)} - ${hex(end64, 16)}`);
    windows.mem64.entries = [...r64.mem.list, ...r64.prefmem.list];
    windows.mem64.requested = all(windows.mem64.entries);
    mapEntries(r64.mem, fwBuses, log);
    mapEntries(r64.prefmem, fwBuses, log);
    if (end64 > PHYS_ADDR_END) return finish(overflow("mem64", windows.mem64, label, "64-bit window"));
  }
  windows.mem32.entries = [...root.mem.list, ...root.prefmem.list];
  windows.mem32.requested = all(windows.mem32.entries);
  for (const fwBus of fwBuses) for (const type of TYPES) mapEntries(fwBus.regions[type], fwBuses, log);
  return finish();
}

/** The layout, or a LayoutError naming what did not fit (its `layout` has the usage report). */
export function assignBarLayout(machine: Machine): BarLayout {
  const layout = planBarLayout(machine);
  if (!layout.fits) throw new LayoutError(layout);
  return layout;
}

/**
 * Programs `machine` as SeaBIOS's PCI setup leaves it, as far as the layout goes, through the
 * guest's own config cycles: every bridge numbered (pci_bios_init_bus), every BAR and bridge
 * window written (pci_region_map_one_entry: ROM BARs without their enable bit, a window with
 * nothing behind it closed as base above limit), then I/O, memory and SERR# on in every
 * function's command register and SERR# forwarding in every bridge's control register
 * (pci_bios_init_device). Interrupt lines and chipset set-up are not part of the layout. A layout
 * that does not fit is a LayoutError, and the machine is left as it was. The guest's
 * CONFIG_ADDRESS latch is put back afterwards.
 */
export function applyBarLayout(machine: Machine): BarLayout {
  const layout = assignBarLayout(machine);
  const latch = machine.host.latch;
  writeBusNumbers(machine, layout.busNumbers, true);
  const at = (bdf: string): [number, number] => {
    const [bus, dev, fn] = bdf.split(/[:.]/).map((x) => parseInt(x, 16)) as [number, number, number];
    return [bus, (dev << 3) | fn];
  };
  for (const b of layout.bars) {
    const [bus, devfn] = at(b.bdf);
    const bridge = (machine.configRead(bus, devfn, PCI_HEADER_TYPE, 1) & 0x7f) === 1;
    const offset = b.bar === PCI_ROM_SLOT ? (bridge ? PCI_ROM_ADDRESS1 : PCI_ROM_ADDRESS) : PCI_BASE_ADDRESS_0 + 4 * b.bar;
    machine.configWrite(bus, devfn, offset, 4, b.address % 2 ** 32);
    if (b.is64) machine.configWrite(bus, devfn, offset + 4, 4, Math.floor(b.address / 2 ** 32));
  }
  for (const w of layout.bridgeWindows) {
    const [bus, devfn] = at(w.bdf);
    const limit = w.base + w.size - 1;
    const write = (offset: number, size: 1 | 2 | 4, value: number): void => machine.configWrite(bus, devfn, offset, size, value);
    if (w.type === "io") {
      write(PCI_IO_BASE, 1, (w.base >> 8) & 0xff);
      write(PCI_IO_BASE_UPPER16, 2, 0);
      write(PCI_IO_LIMIT, 1, (limit >> 8) & 0xff);
      write(PCI_IO_LIMIT_UPPER16, 2, 0);
    } else if (w.type === "mem") {
      write(PCI_MEMORY_BASE, 2, Math.floor(w.base / 2 ** 16) & 0xffff);
      write(PCI_MEMORY_LIMIT, 2, Math.floor(limit / 2 ** 16) & 0xffff);
    } else {
      write(PCI_PREF_MEMORY_BASE, 2, Math.floor(w.base / 2 ** 16) & 0xffff);
      write(PCI_PREF_MEMORY_LIMIT, 2, Math.floor(limit / 2 ** 16) & 0xffff);
      write(PCI_PREF_BASE_UPPER32, 4, Math.floor(w.base / 2 ** 32));
      write(PCI_PREF_LIMIT_UPPER32, 4, Math.floor(limit / 2 ** 32));
    }
  }
  for (const bus of machine.buses()) {
    const number = layout.busNumbers[bus.name];
    if (number === undefined) continue;
    for (const fn of bus) {
      const command = machine.configRead(number, fn.devfn, PCI_COMMAND, 2);
      machine.configWrite(number, fn.devfn, PCI_COMMAND, 2, command | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_SERR);
      if ((machine.configRead(number, fn.devfn, PCI_HEADER_TYPE, 1) & 0x7f) !== 1) continue;
      const control = machine.configRead(number, fn.devfn, PCI_BRIDGE_CONTROL, 2);
      machine.configWrite(number, fn.devfn, PCI_BRIDGE_CONTROL, 2, control | PCI_BRIDGE_CTL_SERR);
    }
  }
  machine.host.latch = latch;
  return layout;
}

// ---- SeaBIOS's steps ----

/** Functions of a bus in SeaBIOS's scan order (pci_next): functions 1-7 only behind a multifunction function 0. */
function* scan(bus: PciBus): IterableIterator<PciFunction> {
  for (let slot = 0; slot < 32; slot++) {
    const f0 = bus.get(slot << 3);
    if (!f0) continue;
    yield f0;
    if (!(f0.space.config[PCI_HEADER_TYPE]! & 0x80)) continue;
    for (let f = 1; f < 8; f++) {
      const fn = bus.get((slot << 3) | f);
      if (fn) yield fn;
    }
  }
}

function entry(
  fn: PciFunction,
  bdf: string,
  bar: number,
  size: number,
  align: number,
  type: RegionType,
  is64: boolean,
  secondary: number,
): Entry {
  return { fn, bdf, bar, size, align, is64, type, secondary, address: -1, order: -1 };
}

/** pci_region_create_entry: before the first entry with a smaller alignment, or the same alignment and a smaller size. */
function insert(region: Region, e: Entry): void {
  const at = region.list.findIndex((p) => p.align < e.align || (p.align === e.align && p.size < e.size));
  if (at < 0) region.list.push(e);
  else region.list.splice(at, 0, e);
}

/** The first entry has the largest alignment; an empty region aligns to 1. */
function regionAlign(region: Region): number {
  return region.list[0]?.align ?? 1;
}

function regionSum(region: Region): number {
  let sum = 0;
  for (const e of region.list) sum += e.size;
  return sum;
}

/** pci_bios_init_root_regions_mem: the region with the larger alignment at the top of the hole, the other below it. */
function rootMemFits(root: Record<RegionType, Region>, start: number): boolean {
  let [rStart, rEnd] = [root.mem, root.prefmem];
  if (regionAlign(rStart) < regionAlign(rEnd)) [rStart, rEnd] = [rEnd, rStart];
  rEnd.base = alignDown(PCIMEM_END - regionSum(rEnd), regionAlign(rEnd));
  rStart.base = alignDown(rEnd.base - regionSum(rStart), regionAlign(rStart));
  return rStart.base >= start && rStart.base <= PCIMEM_END;
}

/** pci_region_migrate_64bit_entries: the region's 64-bit entries (but USB controllers'), in order. */
function migrate64(region: Region): Entry[] {
  const moved = region.list.filter((e) => e.is64 && classOf(e.fn) !== PCI_CLASS_SERIAL_USB);
  region.list = region.list.filter((e) => !moved.includes(e));
  return moved;
}

/** pci_region_map_entries: one after the other from the region's base; a bridge's entry sets its bus's base. */
function mapEntries(region: Region, fwBuses: FwBus[], log: string[]): void {
  for (const e of region.list) {
    e.order = log.length;
    e.address = region.base;
    region.base += e.size;
    if (e.bar < 0) {
      fwBuses[e.secondary]!.regions[e.type].base = e.address;
    } else {
      log.push(`PCI: map device bdf=${e.bdf}  bar ${e.bar}, addr ${hex(e.address, 8)}, size ${hex(e.size, 8)} [${e.type}]`);
    }
  }
}

function placeUp(list: Entry[], base: number): void {
  for (const e of list) {
    e.address = base;
    base += e.size;
  }
}

type Hotplug = "none" | "pcie" | "shpc";

/** pci_bus_hotplug_support: a PCIe downstream port with a slot, or an SHPC capability. */
function hotplugSupport(bridge: PciFunction, pcie: number): Hotplug {
  if (pcie) {
    const flags = bridge.space.config[pcie + PCI_EXP_FLAGS]! | (bridge.space.config[pcie + PCI_EXP_FLAGS + 1]! << 8);
    const portType = (flags >> 4) & 0xf;
    if (portType !== PCI_EXP_TYPE_PCI_BRIDGE) {
      const downstream = portType === PCI_EXP_TYPE_DOWNSTREAM || portType === PCI_EXP_TYPE_ROOT_PORT;
      return downstream && flags & PCI_EXP_FLAGS_SLOT ? "pcie" : "none";
    }
  }
  return findCapability(bridge, PCI_CAP_ID_SHPC) ? "shpc" : "none";
}

/** pci_bridge_has_region: the base register reads back non-zero after writing 0xff (memory windows are mandatory). */
function bridgeHasRegion(bridge: PciFunction, type: RegionType): boolean {
  if (type === "mem") return true;
  const at = type === "io" ? PCI_IO_BASE : PCI_PREF_MEMORY_BASE;
  const { config, wmask } = bridge.space;
  return ((0xff & wmask[at]!) | (config[at]! & ~wmask[at]!)) !== 0;
}

function findCapability(fn: PciFunction, id: number): number {
  const c = fn.space.config;
  for (let at = c[PCI_CAPABILITY_LIST]! & 0xfc, hops = 0; at && hops < 48; at = c[at + 1]! & 0xfc, hops++) {
    if (c[at] === id) return at;
  }
  return 0;
}

function classOf(fn: PciFunction): number {
  return fn.space.config[PCI_CLASS_DEVICE]! | (fn.space.config[PCI_CLASS_DEVICE + 1]! << 8);
}

// ---- results ----

type Ordered<T> = T & { order: number };

/** Every BAR and bridge window below a root-level entry, with the root window it sits in. */
function collect(
  e: Entry,
  window: WindowName,
  fwBuses: FwBus[],
  label: (fn: PciFunction) => string,
  bars: Ordered<BarAssignment>[],
  bridgeWindows: Ordered<BridgeWindowAssignment>[],
): void {
  const order = e.order;
  if (e.bar >= 0) {
    bars.push({ bdf: e.bdf, device: label(e.fn), bar: e.bar, type: e.type, is64: e.is64, address: e.address, size: e.size, window, order });
    return;
  }
  bridgeWindows.push({
    bdf: e.bdf,
    device: label(e.fn),
    secondaryBus: e.secondary,
    type: e.type,
    is64: e.is64,
    base: e.address,
    size: e.size,
    align: e.align,
    window,
    order,
  });
  for (const child of fwBuses[e.secondary]!.regions[e.type].list) collect(child, window, fwBuses, label, bars, bridgeWindows);
}

function windowUsage(name: WindowName, w: { start: number; end: number; entries: Entry[]; requested: number }): WindowUsage {
  const placed = w.entries.filter((e) => e.address >= w.start && e.address + e.size - 1 <= w.end).sort((a, b) => a.address - b.address);
  let used = 0;
  let largestFree = 0;
  let cursor = w.start;
  for (const e of placed) {
    used += e.size;
    largestFree = Math.max(largestFree, e.address - cursor);
    cursor = Math.max(cursor, e.address + e.size);
  }
  largestFree = Math.max(largestFree, w.end + 1 - cursor);
  const size = w.end - w.start + 1;
  return { name, start: w.start, end: w.end, size, used, free: size - used, largestFree, requested: w.requested };
}

/** The entry that does not fit: of those left outside the window, the largest. */
function overflow(
  name: WindowName,
  w: { start: number; end: number; entries: Entry[]; requested: number },
  label: (fn: PciFunction) => string,
  what: string,
): LayoutFailure {
  w.requested = w.entries.reduce((s, e) => s + e.size, 0);
  const outside = w.entries.filter((e) => e.address < w.start || e.address + e.size - 1 > w.end);
  const culprit = outside.reduce((a, b) => (b.size > a.size ? b : a), outside[0] ?? w.entries[0]!);
  const thing =
    culprit.bar >= 0
      ? `BAR ${culprit.bar} (${culprit.type}, ${formatSize(culprit.size)})`
      : `the ${culprit.type} window for bus ${culprit.secondary} behind it (${formatSize(culprit.size)})`;
  const message =
    `${label(culprit.fn)} at ${culprit.bdf}: ${thing} does not fit in the ${what} ` +
    `${hex0x(w.start)}-${hex0x(w.end)}: ${formatSize(w.requested)} asked for, ${formatSize(w.end - w.start + 1)} there`;
  return {
    window: name,
    device: label(culprit.fn),
    bdf: culprit.bdf,
    bar: culprit.bar >= 0 ? culprit.bar : null,
    type: culprit.type,
    size: culprit.size,
    message,
  };
}

// ---- numbers ----

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

function alignDown(v: number, a: number): number {
  return Math.floor(v / a) * a;
}

function bdfOf(bus: number, devfn: number): string {
  return `${bus.toString(16).padStart(2, "0")}:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`;
}

function hex(v: number, width: number): string {
  return v.toString(16).padStart(width, "0");
}

export function hex0x(v: number): string {
  return `0x${v.toString(16)}`;
}

const UNITS = [
  ["TiB", 2 ** 40],
  ["GiB", 2 ** 30],
  ["MiB", 2 ** 20],
  ["KiB", 2 ** 10],
] as const;

/** In the largest unit that holds it exactly in four digits (2028 MiB, 16 KiB, 300 B), else to two decimals (1.98 GiB). */
export function formatSize(bytes: number): string {
  const exact = UNITS.find(([, size]) => bytes >= size && bytes % size === 0 && bytes / size < 10000);
  if (exact) return `${bytes / exact[1]} ${exact[0]}`;
  const near = UNITS.find(([, size]) => bytes >= size);
  return near ? `${+(bytes / near[1]).toFixed(2)} ${near[0]}` : `${bytes} B`;
}

/**
 * Gives every bridge the guest has not numbered (secondary bus 0) the primary, secondary and
 * subordinate bus numbers SeaBIOS's pci_bios_init_bus would, through ordinary config writes, so
 * that what sits behind bridges answers config cycles as it does once firmware ran. BARs and
 * windows stay as they are.
 */
export function numberBusesAsFirmware(machine: Machine): void {
  writeBusNumbers(machine, planBarLayout(machine).busNumbers, false);
}

/** Writes firmware's primary, secondary and subordinate numbers into bridges: all of them, or those still at secondary bus 0. */
function writeBusNumbers(machine: Machine, busNumbers: Readonly<Record<string, number>>, all: boolean): void {
  const subordinate = (bus: PciBus): number =>
    Math.max(busNumbers[bus.name] ?? 0, ...bus.children.map((c) => (busNumbers[c.name] === undefined ? 0 : subordinate(c))));
  const visit = (bus: PciBus): void => {
    const primary = busNumbers[bus.name] ?? 0;
    for (const child of bus.children) {
      const secondary = busNumbers[child.name];
      const fn = child.parentBridge!;
      if (secondary === undefined || (!all && fn.space.get8(PCI_SECONDARY_BUS) !== 0)) continue;
      const latency = fn.space.get8(PCI_PRIMARY_BUS + 3);
      fn.write(PCI_PRIMARY_BUS, (primary | (secondary << 8) | (subordinate(child) << 16) | (latency << 24)) >>> 0, 4, fn.space.size);
      visit(child);
    }
  };
  visit(machine.rootBus);
}
