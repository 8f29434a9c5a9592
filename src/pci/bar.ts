import { MachbusError } from "../errors.js";
import { AddressSpace, Region, type RegionOps, type RegionOptions } from "../memory/address-space.js";
import { PCI_BASE_ADDRESS_MEM_PREFETCH, PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO, PCI_ROM_SLOT } from "./constants.js";

export type BarKind = "io" | "mem32" | "mem64" | "rom";

export interface BarSpec {
  kind: BarKind;
  /** Power of two: at least 4 for I/O, 16 for memory, 2048 for the expansion ROM. */
  size: number;
  prefetchable?: boolean;
  /** Name of the region (QEMU's memory region name, e.g. "e1000-mmio"). */
  name: string;
  /** Handler for the whole BAR; omit to fill the BAR with sub-regions through `bar.contents`. */
  ops?: RegionOps;
  regionOptions?: RegionOptions;
}

/** QEMU's PCI_BAR_UNMAPPED: the address of a BAR that decodes nothing. */
export const BAR_UNMAPPED = -1n;

const MIN_SIZE: Record<BarKind, number> = { io: 4, mem32: 16, mem64: 16, rom: 2048 };

/**
 * One base address register: its type bits and what answers the accesses it decodes, either
 * one region (`spec.ops`) or a container of regions (`contents`), which also give its name and size. `address` is where it
 * currently decodes (BAR_UNMAPPED when it does not); the function recomputes it after every write
 * to the BAR or the command register.
 */
export class Bar {
  /** The low bits the BAR reports (I/O bit, 64-bit type, prefetchable); read-only to the guest. */
  readonly type: number;
  address: bigint = BAR_UNMAPPED;
  /** The whole BAR's handler, when the device gave one; else the container of its regions. */
  private readonly target: Region | AddressSpace;

  constructor(
    readonly index: number,
    spec: BarSpec,
  ) {
    const { kind, size, name } = spec;
    if (index < 0 || index > PCI_ROM_SLOT || (kind === "rom") !== (index === PCI_ROM_SLOT)) {
      throw new MachbusError("bar-invalid", `BAR ${index} (${name}): ${kind} BARs go in slot ${kind === "rom" ? 6 : "0-5"}`);
    }
    if (kind === "mem64" && index > 4) {
      throw new MachbusError("bar-invalid", `BAR ${index} (${name}): a 64-bit BAR takes two slots and must start at 0-4`);
    }
    const max = kind === "io" ? 0x10000 : kind === "mem64" ? 2 ** 52 : 2 ** 31;
    if (!isPowerOfTwo(size) || size < MIN_SIZE[kind] || size > max) {
      throw new MachbusError(
        "bar-invalid",
        `BAR ${index} (${name}): size ${size} must be a power of two from ${MIN_SIZE[kind]} to 0x${max.toString(16)}`,
      );
    }
    this.type =
      kind === "io"
        ? PCI_BASE_ADDRESS_SPACE_IO
        : (kind === "mem64" ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (spec.prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    this.target = spec.ops ? regionFor(spec.ops, name, size, spec.regionOptions) : new AddressSpace(name, size);
  }

  get size(): number {
    return this.target.size;
  }
  get name(): string {
    return this.target.name;
  }

  get kind(): BarKind {
    if (this.index === PCI_ROM_SLOT) return "rom";
    if (this.type & PCI_BASE_ADDRESS_SPACE_IO) return "io";
    return this.type & PCI_BASE_ADDRESS_MEM_TYPE_64 ? "mem64" : "mem32";
  }

  /** The BAR's registers at offsets from 0, for a BAR declared without `ops`: map its regions here. */
  get contents(): AddressSpace {
    if (this.target instanceof Region) {
      throw new Error(`BAR ${this.index} (${this.name}) has one handler for all of it; it has no contents to map into`);
    }
    return this.target;
  }

  /** What the bus's space shows at the BAR's address (through a window). */
  get decoder(): Region | AddressSpace {
    return this.target;
  }

  get isIo(): boolean {
    return (this.type & PCI_BASE_ADDRESS_SPACE_IO) !== 0;
  }
  get is64(): boolean {
    return (this.type & PCI_BASE_ADDRESS_MEM_TYPE_64) !== 0;
  }
  get prefetchable(): boolean {
    return !this.isIo && (this.type & PCI_BASE_ADDRESS_MEM_PREFETCH) !== 0;
  }
  get mapped(): boolean {
    return this.address !== BAR_UNMAPPED;
  }
}

/** The last few regions made without options: a handler many BARs share finds its region here. */
const recentRegions: Region[] = [];
const RECENT_REGIONS = 8;

/**
 * The BAR's region: one per BAR, except that BARs with the same handler object (a module-level
 * one: ROMs, e1000's I/O ports), name and size and no options share one Region, which holds
 * nothing per BAR; a machine of ten thousand such devices then makes one instead of ten thousand.
 */
function regionFor(ops: RegionOps, name: string, size: number, options: RegionOptions | undefined): Region {
  if (options) return new Region(name, size, ops, options);
  let region = recentRegions.find((r) => r.ops === ops && r.name === name && r.size === size);
  if (!region) {
    region = new Region(name, size, ops);
    recentRegions.unshift(region);
    recentRegions.length = Math.min(recentRegions.length, RECENT_REGIONS);
  }
  return region;
}

function isPowerOfTwo(n: number): boolean {
  // Sizes may exceed 2^31 for 64-bit BARs, so no bit tricks.
  return n >= 1 && Number.isInteger(Math.log2(n));
}
