import { Region, type RegionOps } from "../memory/address-space.js";
import type { PciBus } from "./bus.js";
import type { ConfigArena } from "./config-arena.js";
import type { ConfigRouting } from "./config-routing.js";
import { PCI_CONFIG_SPACE_SIZE } from "./constants.js";
import type { PciFunction } from "./function.js";

export const CONFIG_ADDRESS_PORT = 0xcf8;
export const CONFIG_DATA_PORT = 0xcfc;
/** ECAM: 1 MiB per bus, 4 KiB per function; 256 buses. */
export const ECAM_SIZE = 256 << 20;

/** 0xCF8-0xCFB: only a 32-bit write at 0xCF8 latches; any read returns the latch (QEMU's pci_host_config_read). */
class ConfigAddressPort implements RegionOps {
  /** The CONFIG_ADDRESS latch (signed: the enable bit is the sign), shared with the data port. */
  constructor(private readonly latch: Int32Array) {}
  read(): number {
    return this.latch[0]!;
  }
  write(offset: number, size: number, value: number): void {
    if (offset === 0 && size === 4) this.latch[0] = value;
  }
}

/**
 * 0xCFC-0xCFF: the data window. QEMU ORs the port's low bits into the latch instead of
 * replacing bits 1:0, and does not mask them: with 0x8000000b latched a dword read at 0xCFC
 * returns bytes 0x0b-0x0e. Bits 30:24 are ignored (the bus number is bits 23:16).
 */
class ConfigDataPort implements RegionOps {
  constructor(
    private readonly latch: Int32Array,
    private readonly routing: ConfigRouting,
    private readonly arena: ConfigArena,
  ) {}

  read(offset: number, size: number): number {
    const latch = this.latch[0]!;
    if (latch >= 0) return -1; // enable bit (31) clear: all ones
    const addr = latch | (offset & 3);
    const key = (addr >>> 8) & 0xffff;
    const reg = addr & 0xff;
    // Fast path: an aligned dword of a function without read side effects, straight from the arena.
    const dword0 = this.routing.arenaDword[key]!;
    if (dword0 >= 0 && size === 4 && (reg & 3) === 0) return this.arena.dwords[dword0 + (reg >> 2)]!;
    const fn = this.routing.functionAt(key >>> 8, key & 0xff);
    return fn === undefined ? -1 : fn.read(reg, size, PCI_CONFIG_SPACE_SIZE);
  }

  write(offset: number, size: number, value: number): void {
    const latch = this.latch[0]!;
    if (latch >= 0) return;
    const addr = latch | (offset & 3);
    const fn = this.routing.functionAt((addr >>> 16) & 0xff, (addr >>> 8) & 0xff);
    if (fn !== undefined) fn.write(addr & 0xff, value, size, PCI_CONFIG_SPACE_SIZE);
  }
}

/** ECAM window: bus, devfn and register come from the address; reaches 4 KiB spaces. */
class EcamWindow implements RegionOps {
  constructor(private readonly routing: ConfigRouting) {}
  read(offset: number, size: number): number {
    const fn = this.routing.functionAt(offset >>> 20, (offset >>> 12) & 0xff);
    return fn === undefined ? 0xffffffff : fn.read(offset & 0xfff, size, configLimit(fn, fn.space.size));
  }
  write(offset: number, size: number, value: number): void {
    const fn = this.routing.functionAt(offset >>> 20, (offset >>> 12) & 0xff);
    if (fn !== undefined) fn.write(offset & 0xfff, value, size, configLimit(fn, fn.space.size));
  }
}

/**
 * The host bridge's config mechanisms (QEMU's pci_host.c and pcie_host.c): #1 through the
 * 0xCF8 address latch and the 0xCFC-0xCFF data window, and ECAM (MMCONFIG) in memory space.
 * Which function a cycle reaches is the root bus's ConfigRouting's answer.
 */
export class PciHost {
  /** Off-heap (a typed array over its own buffer), so its address is a constant to the optimizer. */
  private readonly latchCell = new Int32Array(new ArrayBuffer(4));
  readonly addressRegion: Region;
  readonly dataRegion: Region;
  /** What an ECAM window decodes (bus, devfn, register from the offset): boards map a Region of their size over it. */
  readonly ecam: RegionOps;
  readonly ecamRegion: Region;

  constructor(readonly root: PciBus) {
    const routing = root.routing!;
    this.addressRegion = new Region("pci-conf-idx", 4, new ConfigAddressPort(this.latchCell));
    this.dataRegion = new Region("pci-conf-data", 4, new ConfigDataPort(this.latchCell, routing, root.arena!));
    this.ecam = new EcamWindow(routing);
    this.ecamRegion = new Region("pcie-mmcfg-mmio", ECAM_SIZE, this.ecam);
  }

  /** The CONFIG_ADDRESS latch as an unsigned value. */
  get latch(): number {
    return this.latchCell[0]! >>> 0;
  }
  set latch(value: number) {
    this.latchCell[0] = value;
  }
}

/** QEMU's pci_adjust_config_limit: extended config needs a PCI Express path up to the root. */
export function configLimit(fn: PciFunction, limit: number): number {
  if (limit > PCI_CONFIG_SPACE_SIZE && !fn.bus?.allowsExtendedConfig) return PCI_CONFIG_SPACE_SIZE;
  return limit;
}
