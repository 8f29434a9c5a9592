import { AddressSpace } from "../memory/address-space.js";
import { PciBus, swizzle } from "./bus.js";
import { getLe, setLe } from "./config-space.js";
import {
  PCI_BRIDGE_CONTROL,
  PCI_BRIDGE_CTL_BUS_RESET,
  PCI_BRIDGE_CTL_DISCARD,
  PCI_BRIDGE_CTL_DISCARD_SERR,
  PCI_BRIDGE_CTL_DISCARD_STATUS,
  PCI_BRIDGE_CTL_FAST_BACK,
  PCI_BRIDGE_CTL_ISA,
  PCI_BRIDGE_CTL_MASTER_ABORT,
  PCI_BRIDGE_CTL_PARITY,
  PCI_BRIDGE_CTL_SEC_DISCARD,
  PCI_BRIDGE_CTL_SERR,
  PCI_BRIDGE_CTL_VGA,
  PCI_BRIDGE_CTL_VGA_16BIT,
  PCI_CAP_ID_SSVID,
  PCI_CAP_ID_VNDR,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_IO_BASE,
  PCI_IO_BASE_UPPER16,
  PCI_IO_LIMIT,
  PCI_IO_LIMIT_UPPER16,
  PCI_IO_RANGE_MASK,
  PCI_IO_RANGE_TYPE_16,
  PCI_IO_RANGE_TYPE_32,
  PCI_IO_RANGE_TYPE_MASK,
  PCI_MEMORY_BASE,
  PCI_MEMORY_LIMIT,
  PCI_MEMORY_RANGE_MASK,
  PCI_PREF_BASE_UPPER32,
  PCI_PREF_LIMIT_UPPER32,
  PCI_PREF_MEMORY_BASE,
  PCI_PREF_MEMORY_LIMIT,
  PCI_PREF_RANGE_MASK,
  PCI_PREF_RANGE_TYPE_64,
  PCI_PREF_RANGE_TYPE_MASK,
  PCI_PRIMARY_BUS,
  PCI_SEC_STATUS,
  PCI_STATUS,
  PCI_STATUS_66MHZ,
  PCI_STATUS_FAST_BACK,
} from "./constants.js";
import { PciDevice, type DeviceProps, type PciIdentity } from "./device.js";

/** A bridge window: [base, limit] of the secondary space forwarded from the primary side. */
export interface BridgeWindow {
  readonly kind: "io" | "memory" | "prefetchable";
  readonly base: bigint;
  readonly limit: bigint;
  readonly enabled: boolean;
}

/** The I/O and memory space sizes of a secondary bus (QEMU: 4 GiB of I/O; here the CPU's 64 KiB). */
const SECONDARY_IO_SIZE = 0x10000;
const MEMORY_SPACE_SIZE = 2 ** 53;

/**
 * A PCI-to-PCI bridge (type 1 header, QEMU's pci_bridge.c): the secondary bus it owns, bus-number
 * registers that route config cycles, and I/O / memory / prefetchable windows that forward the
 * primary side's accesses into the secondary bus's spaces. Concrete bridges (devices/pci-bridge.ts)
 * add identity and capabilities.
 */
export abstract class PciBridgeDevice extends PciDevice {
  private secondary: PciBus | null = null;
  private busName: string | null = null;
  private windows: { space: AddressSpace; target: AddressSpace; base: number }[] = [];
  private control = 0;

  protected constructor(identity: PciIdentity, props: DeviceProps) {
    super({ ...identity, bridge: true }, props);
    initBridgeMasks(this);
    // 66 MHz capable and fast back-to-back, on both sides (QEMU's pci_bridge_initfn).
    this.config.set16(PCI_STATUS, this.config.get16(PCI_STATUS) | PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK);
    this.config.set16(PCI_SEC_STATUS, PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK);
    this.function.onConfigWrite(PCI_PRIMARY_BUS, 3, () => this.function.bus?.root.routing!.invalidate());
    this.function.onConfigWrite(PCI_COMMAND, 2, () => this.updateWindows());
    this.function.onConfigWrite(PCI_IO_BASE, 2, () => this.updateWindows());
    this.function.onConfigWrite(PCI_MEMORY_BASE, 20, () => this.updateWindows());
    this.function.onConfigWrite(PCI_BRIDGE_CONTROL, 2, () => this.bridgeControlWritten());
  }

  /** The bus behind the bridge (exists once the bridge is plugged). */
  get secondaryBus(): PciBus {
    if (!this.secondary) throw new Error(`${this.function.label}: bridge is not plugged`);
    return this.secondary;
  }

  get hasSecondaryBus(): boolean {
    return this.secondary !== null;
  }

  /** Whether the secondary bus is PCI Express: a PCIe port's is, a PCIe-to-PCI bridge's is not. */
  protected get secondaryIsExpress(): boolean {
    return this.function.isExpress;
  }

  /** Name of the secondary bus: the bridge's id, or "pci.N" numbered in creation order, as QEMU names it. */
  private secondaryBusName(primary: PciBus): string {
    return (this.busName ??= this.id ?? `pci.${primary.root.nextAutomaticId++}`);
  }

  override plugged(): void {
    const primary = this.function.bus!;
    const name = this.secondaryBusName(primary);
    const io = new AddressSpace(`${name} io`, SECONDARY_IO_SIZE);
    const memory = new AddressSpace(`${name} memory`, MEMORY_SPACE_SIZE);
    io.onOverlap((r) => primary.events.emit("mapping-overlap", r));
    memory.onOverlap((r) => primary.events.emit("mapping-overlap", r));
    this.secondary = new PciBus(name, io, memory, primary.events, swizzle, this.function);
    // QEMU's pcie_bus_realize: extended config reaches a PCIe bus whose parent bus allows it.
    this.secondary.express = this.secondaryIsExpress;
    this.secondary.allowsExtendedConfig = this.secondaryIsExpress && primary.allowsExtendedConfig;
    primary.addChild(this.secondary);
    this.updateWindows();
  }

  override unplugging(): void {
    const primary = this.function.bus!;
    this.unmapWindows();
    if (this.secondary) primary.removeChild(this.secondary);
    this.secondary = null;
  }

  /** The three windows as the guest programmed them. */
  windowsNow(): BridgeWindow[] {
    const c = this.config;
    const cmd = c.get16(PCI_COMMAND);
    return [
      {
        kind: "io",
        base: ioBase(c.config, PCI_IO_BASE, PCI_IO_BASE_UPPER16),
        limit: ioBase(c.config, PCI_IO_LIMIT, PCI_IO_LIMIT_UPPER16) | 0xfffn,
        enabled: (cmd & PCI_COMMAND_IO) !== 0,
      },
      {
        kind: "memory",
        base: memBase(c.config, PCI_MEMORY_BASE),
        limit: memBase(c.config, PCI_MEMORY_LIMIT) | 0xfffffn,
        enabled: (cmd & PCI_COMMAND_MEMORY) !== 0,
      },
      {
        kind: "prefetchable",
        base: prefBase(c.config, PCI_PREF_MEMORY_BASE, PCI_PREF_BASE_UPPER32),
        limit: prefBase(c.config, PCI_PREF_MEMORY_LIMIT, PCI_PREF_LIMIT_UPPER32) | 0xfffffn,
        enabled: (cmd & PCI_COMMAND_MEMORY) !== 0,
      },
    ];
  }

  /** QEMU's pci_bridge_update_mappings: drop the old windows, open the ones the registers describe. */
  protected updateWindows(): void {
    if (!this.secondary) return;
    this.unmapWindows();
    const primary = this.function.bus!;
    for (const w of this.windowsNow()) {
      if (!w.enabled || w.limit < w.base) continue;
      const space = w.kind === "io" ? primary.io : primary.memory;
      const target = w.kind === "io" ? this.secondary.io : this.secondary.memory;
      const end = w.limit + 1n > BigInt(space.size) ? BigInt(space.size) : w.limit + 1n;
      if (w.base >= end) continue;
      const base = Number(w.base);
      space.mapWindow(target, base, Number(end) - base, { priority: 1, owner: `${this.function.label} ${w.kind} window` });
      this.windows.push({ space, target, base });
    }
  }

  private unmapWindows(): void {
    for (const w of this.windows) w.space.unmapWindow(w.target, w.base);
    this.windows = [];
  }

  private bridgeControlWritten(): void {
    const old = this.control;
    this.control = this.config.get16(PCI_BRIDGE_CONTROL);
    // The bus-reset bit hides the secondary bus from config cycles (QEMU skips it while set).
    this.function.bus?.root.routing!.invalidate();
    this.updateWindows();
    // A 0 -> 1 transition resets everything behind the bridge.
    if (~old & this.control & PCI_BRIDGE_CTL_BUS_RESET && this.secondary) {
      for (const bus of this.secondary.walk()) for (const fn of bus) fn.owner.reset();
    }
  }

  override reset(): void {
    super.reset();
    this.control = this.config.get16(PCI_BRIDGE_CONTROL);
  }

  /**
   * QEMU's pci_bridge_reset: bus numbers, secondary latency, windows and bridge control cleared;
   * with `disableForwarding` (pci_bridge_disable_base_limit, as PCIe ports do) every window's base
   * above its limit instead, so nothing is forwarded.
   */
  protected resetBridgeRegisters({ disableForwarding }: { disableForwarding: boolean }): void {
    const c = this.config.config;
    c.fill(0, PCI_PRIMARY_BUS, PCI_PRIMARY_BUS + 4);
    const io = PCI_IO_RANGE_MASK & 0xff;
    const mem = PCI_MEMORY_RANGE_MASK & 0xffff;
    const pref = PCI_PREF_RANGE_MASK & 0xffff;
    c[PCI_IO_BASE] = (c[PCI_IO_BASE]! & ~io) | (disableForwarding ? io : 0);
    c[PCI_IO_LIMIT] = c[PCI_IO_LIMIT]! & ~io;
    setLe(c, PCI_MEMORY_BASE, (getLe(c, PCI_MEMORY_BASE, 2) & ~mem) | (disableForwarding ? mem : 0), 2);
    setLe(c, PCI_MEMORY_LIMIT, getLe(c, PCI_MEMORY_LIMIT, 2) & ~mem, 2);
    setLe(c, PCI_PREF_MEMORY_BASE, (getLe(c, PCI_PREF_MEMORY_BASE, 2) & ~pref) | (disableForwarding ? pref : 0), 2);
    setLe(c, PCI_PREF_MEMORY_LIMIT, getLe(c, PCI_PREF_MEMORY_LIMIT, 2) & ~pref, 2);
    c.fill(0, PCI_PREF_BASE_UPPER32, PCI_PREF_BASE_UPPER32 + 8);
    setLe(c, PCI_BRIDGE_CONTROL, 0, 2);
    this.function.bus?.root.routing!.invalidate();
  }

  /** QEMU's pci_bridge_ssvid_init: the bridge subsystem vendor ID capability (the type 1 header has no subsystem IDs). */
  protected addSubsystemIdCapability(offset: number, vendorId: number, subsystemId: number): void {
    const at = this.capabilities.add(PCI_CAP_ID_SSVID, PCI_SSVID_SIZEOF, offset);
    this.config.set16(at + PCI_SSVID_VID, vendorId);
    this.config.set16(at + PCI_SSVID_SVID, subsystemId);
  }

  /**
   * QEMU's pci_bridge_qemu_reserve_cap_init: Red Hat's vendor capability telling firmware how much
   * bus numbers, I/O and memory to reserve behind the bridge for hotplug (all ones: no hint).
   */
  protected addResourceReserveCapability(reserve: BridgeResourceReserve): void {
    const at = this.capabilities.add(PCI_CAP_ID_VNDR, REDHAT_RESERVE_CAP_SIZE);
    const c = this.config;
    c.set8(at + 2, REDHAT_RESERVE_CAP_SIZE);
    c.set8(at + 3, REDHAT_PCI_CAP_RESOURCE_RESERVE);
    c.set32(at + 4, reserve.bus >>> 0);
    setLe64(c.config, at + 8, reserve.io);
    c.set32(at + 16, Number(reserve.mem & 0xffffffffn));
    c.set32(at + 20, Number(reserve.pref32 & 0xffffffffn));
    setLe64(c.config, at + 24, reserve.pref64);
  }

  override stateLoaded(): void {
    this.control = this.config.get16(PCI_BRIDGE_CONTROL);
    this.updateWindows();
  }
}

/** What a bridge asks firmware to reserve behind it; all ones (-1) for "no hint", as QEMU's properties default. */
export interface BridgeResourceReserve {
  bus: number;
  io: bigint;
  mem: bigint;
  pref32: bigint;
  pref64: bigint;
}

export const NO_RESERVE_HINT = (1n << 64n) - 1n;
const PCI_SSVID_SIZEOF = 8;
const PCI_SSVID_VID = 4;
const PCI_SSVID_SVID = 6;
const REDHAT_RESERVE_CAP_SIZE = 0x20;
const REDHAT_PCI_CAP_RESOURCE_RESERVE = 1;

function setLe64(c: Uint8Array, at: number, v: bigint): void {
  setLe(c, at, Number(v & 0xffffffffn), 4);
  setLe(c, at + 4, Number((v >> 32n) & 0xffffffffn), 4);
}

/** QEMU's pci_init_mask_bridge: which type 1 registers the guest may write, and their type bits. */
function initBridgeMasks(dev: PciDevice): void {
  const s = dev.config;
  s.wmask.fill(0xff, PCI_PRIMARY_BUS, PCI_PRIMARY_BUS + 4);
  s.wmask[PCI_IO_BASE] = PCI_IO_RANGE_MASK & 0xff;
  s.wmask[PCI_IO_LIMIT] = PCI_IO_RANGE_MASK & 0xff;
  setLe(s.wmask, PCI_MEMORY_BASE, PCI_MEMORY_RANGE_MASK & 0xffff, 2);
  setLe(s.wmask, PCI_MEMORY_LIMIT, PCI_MEMORY_RANGE_MASK & 0xffff, 2);
  setLe(s.wmask, PCI_PREF_MEMORY_BASE, PCI_PREF_RANGE_MASK & 0xffff, 2);
  setLe(s.wmask, PCI_PREF_MEMORY_LIMIT, PCI_PREF_RANGE_MASK & 0xffff, 2);
  s.wmask.fill(0xff, PCI_PREF_BASE_UPPER32, PCI_PREF_BASE_UPPER32 + 8);
  s.config[PCI_IO_BASE] = s.config[PCI_IO_BASE]! | PCI_IO_RANGE_TYPE_16;
  s.config[PCI_IO_LIMIT] = s.config[PCI_IO_LIMIT]! | PCI_IO_RANGE_TYPE_16;
  setLe(s.config, PCI_PREF_MEMORY_BASE, getLe(s.config, PCI_PREF_MEMORY_BASE, 2) | PCI_PREF_RANGE_TYPE_64, 2);
  setLe(s.config, PCI_PREF_MEMORY_LIMIT, getLe(s.config, PCI_PREF_MEMORY_LIMIT, 2) | PCI_PREF_RANGE_TYPE_64, 2);
  setLe(
    s.wmask,
    PCI_BRIDGE_CONTROL,
    PCI_BRIDGE_CTL_PARITY |
      PCI_BRIDGE_CTL_SERR |
      PCI_BRIDGE_CTL_ISA |
      PCI_BRIDGE_CTL_VGA |
      PCI_BRIDGE_CTL_VGA_16BIT |
      PCI_BRIDGE_CTL_MASTER_ABORT |
      PCI_BRIDGE_CTL_BUS_RESET |
      PCI_BRIDGE_CTL_FAST_BACK |
      PCI_BRIDGE_CTL_DISCARD |
      PCI_BRIDGE_CTL_SEC_DISCARD |
      PCI_BRIDGE_CTL_DISCARD_SERR,
    2,
  );
  setLe(s.w1cmask, PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_DISCARD_STATUS, 2);
  s.cmask[PCI_IO_BASE] = s.cmask[PCI_IO_BASE]! | PCI_IO_RANGE_TYPE_MASK;
  s.cmask[PCI_IO_LIMIT] = s.cmask[PCI_IO_LIMIT]! | PCI_IO_RANGE_TYPE_MASK;
  setLe(s.cmask, PCI_PREF_MEMORY_BASE, getLe(s.cmask, PCI_PREF_MEMORY_BASE, 2) | PCI_PREF_RANGE_TYPE_MASK, 2);
  setLe(s.cmask, PCI_PREF_MEMORY_LIMIT, getLe(s.cmask, PCI_PREF_MEMORY_LIMIT, 2) | PCI_PREF_RANGE_TYPE_MASK, 2);
}

function ioBase(c: Uint8Array, reg: number, upper16: number): bigint {
  let v = BigInt((c[reg]! & PCI_IO_RANGE_MASK & 0xff) << 8);
  if (c[reg]! & PCI_IO_RANGE_TYPE_32) v |= BigInt(getLe(c, upper16, 2)) << 16n;
  return v;
}

function memBase(c: Uint8Array, reg: number): bigint {
  return BigInt(getLe(c, reg, 2) & (PCI_MEMORY_RANGE_MASK & 0xffff)) << 16n;
}

function prefBase(c: Uint8Array, reg: number, upper32: number): bigint {
  let v = BigInt(getLe(c, reg, 2) & (PCI_PREF_RANGE_MASK & 0xffff)) << 16n;
  if (getLe(c, reg, 2) & PCI_PREF_RANGE_TYPE_64) v |= BigInt(getLe(c, upper32, 4)) << 32n;
  return v;
}
