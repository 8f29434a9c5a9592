import { Region, type RegionOps } from "../memory/address-space.js";
import type { PciBus } from "./bus.js";
import { HOST_LITTLE_ENDIAN, type ConfigArena } from "./config-arena.js";
import { PCI_CONFIG_SPACE_SIZE } from "./constants.js";
import type { PciFunction } from "./function.js";

export const CONFIG_ADDRESS_PORT = 0xcf8;
export const CONFIG_DATA_PORT = 0xcfc;
/** ECAM: 1 MiB per bus, 4 KiB per function; 256 buses. */
export const ECAM_SIZE = 256 << 20;

/**
 * The host's config-cycle state in one typed array, so the hot path touches few objects:
 * [0, 0x10000): per (bus << 8 | devfn), the function's byte offset in the config arena, or
 * NO_FUNCTION, or SLOW_PATH, or for a function with read hooks HOOKED minus its offset; then the
 * CONFIG_ADDRESS latch.
 */
const LATCH = 0x10000;
const NO_FUNCTION = -1;
/** Every read through the function's own read (a big-endian host: the arena's dwords are little endian). */
const SLOW_PATH = -2;
/** Routes at or below: a function with read hooks; dwords without one still read from the arena. */
const HOOKED = -3;

/** 0xCF8-0xCFB: only a 32-bit write at 0xCF8 latches; any read returns the latch (QEMU's pci_host_config_read). */
class ConfigAddressPort implements RegionOps {
  constructor(private readonly state: Int32Array) {}
  read(): number {
    return this.state[LATCH]!;
  }
  write(offset: number, size: number, value: number): void {
    if (offset === 0 && size === 4) this.state[LATCH] = value;
  }
}

/**
 * 0xCFC-0xCFF: the data window. QEMU ORs the port's low bits into the latch instead of
 * replacing bits 1:0, and does not mask them: with 0x8000000b latched a dword read at 0xCFC
 * returns bytes 0x0b-0x0e. Bits 30:24 are ignored (the bus number is bits 23:16).
 */
class ConfigDataPort implements RegionOps {
  constructor(
    private readonly state: Int32Array,
    private readonly arena: ConfigArena,
    private readonly root: PciBus,
  ) {}

  read(offset: number, size: number): number {
    const state = this.state;
    const latch = state[LATCH]!;
    if (latch >= 0) return -1; // enable bit (31) clear: all ones
    const addr = latch | (offset & 3);
    const target = state[(addr >>> 8) & 0xffff]!;
    const reg = addr & 0xff;
    // Fast path: a function without read side effects, straight from the config arena.
    if (target >= 0 && size === 4 && (reg & 3) === 0) return this.arena.dwords[(target + reg) >> 2]!;
    if (target === NO_FUNCTION) return -1;
    if (target <= HOOKED && size === 4 && (reg & 3) === 0) {
      const dword = (HOOKED - target + reg) >> 2;
      if (this.arena.readHooked[dword] === 0) return this.arena.dwords[dword]!;
    }
    return this.root.routing[(addr >>> 16) & 0xff]![(addr >>> 8) & 0xff]!.read(reg, size, PCI_CONFIG_SPACE_SIZE);
  }

  write(offset: number, size: number, value: number): void {
    const latch = this.state[LATCH]!;
    if (latch >= 0) return;
    const addr = latch | (offset & 3);
    const fn = this.root.routing[(addr >>> 16) & 0xff]![(addr >>> 8) & 0xff];
    if (fn !== undefined) fn.write(addr & 0xff, value, size, PCI_CONFIG_SPACE_SIZE);
  }
}

/** ECAM window: bus, devfn and register come from the address; reaches 4 KiB spaces. */
class EcamWindow implements RegionOps {
  constructor(private readonly root: PciBus) {}
  read(offset: number, size: number): number {
    const fn = this.root.routing[offset >>> 20]![(offset >>> 12) & 0xff];
    return fn === undefined ? 0xffffffff : fn.read(offset & 0xfff, size, configLimit(fn, fn.space.size));
  }
  write(offset: number, size: number, value: number): void {
    const fn = this.root.routing[offset >>> 20]![(offset >>> 12) & 0xff];
    if (fn !== undefined) fn.write(offset & 0xfff, value, size, configLimit(fn, fn.space.size));
  }
}

/**
 * The host bridge's config mechanisms (QEMU's pci_host.c and pcie_host.c): #1 through the
 * 0xCF8 address latch and the 0xCFC-0xCFF data window, and ECAM (MMCONFIG) in memory space.
 */
export class PciHost {
  /** Fast routes and latch (see LATCH); off-heap, so its address is a constant to the optimizer. */
  private readonly state = new Int32Array(new ArrayBuffer(4 * (LATCH + 1)));
  private readonly arena: ConfigArena;
  readonly addressRegion: Region;
  readonly dataRegion: Region;
  /** What an ECAM window decodes (bus, devfn, register from the offset): boards map a Region of their size over it. */
  readonly ecam: RegionOps;
  readonly ecamRegion: Region;

  constructor(readonly root: PciBus) {
    this.arena = root.arena!;
    this.rebuildRoutes();
    root.onRoutingChange = (bus) => (bus ? this.refreshBus(bus) : this.rebuildRoutes());
    this.addressRegion = new Region("pci-conf-idx", 4, new ConfigAddressPort(this.state));
    this.dataRegion = new Region("pci-conf-data", 4, new ConfigDataPort(this.state, this.arena, root));
    this.ecam = new EcamWindow(root);
    this.ecamRegion = new Region("pcie-mmcfg-mmio", ECAM_SIZE, this.ecam);
  }

  /** The CONFIG_ADDRESS latch as an unsigned value. */
  get latch(): number {
    return this.state[LATCH]! >>> 0;
  }
  set latch(value: number) {
    this.state[LATCH] = value;
  }

  /** Recomputes every fast route (bus numbering changed). */
  private rebuildRoutes(): void {
    for (let n = 0; n < 256; n++) this.refreshNumber(n);
  }

  /** Recomputes the fast routes of `bus`'s functions, if config cycles reach it at all. */
  private refreshBus(bus: PciBus): void {
    const n = bus.number;
    if (this.root.findBus(n) === bus) this.refreshNumber(n);
  }

  private refreshNumber(n: number): void {
    const { state, arena, root } = this;
    const fns = root.routing[n]!;
    for (let devfn = 0; devfn < 256; devfn++) {
      const fn = fns[devfn];
      let route = NO_FUNCTION;
      if (fn !== undefined) {
        const offset = arena.offsetOf(fn.space);
        const hooks = fn.readHookDwords;
        if (!HOST_LITTLE_ENDIAN) route = SLOW_PATH;
        else if (hooks === null) route = offset;
        else {
          arena.readHooked.set(hooks, offset >> 2);
          route = HOOKED - offset;
        }
      }
      state[(n << 8) | devfn] = route;
    }
  }
}

/** QEMU's pci_adjust_config_limit: extended config needs a PCI Express path up to the root. */
export function configLimit(fn: PciFunction, limit: number): number {
  if (limit > PCI_CONFIG_SPACE_SIZE && !fn.bus?.allowsExtendedConfig) return PCI_CONFIG_SPACE_SIZE;
  return limit;
}
