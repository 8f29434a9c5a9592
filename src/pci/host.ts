import { Region } from "../memory/address-space.js";
import type { PciBus } from "./bus.js";
import { PCI_CONFIG_SPACE_SIZE } from "./constants.js";
import type { PciFunction } from "./function.js";

export const CONFIG_ADDRESS_PORT = 0xcf8;
export const CONFIG_DATA_PORT = 0xcfc;
/** ECAM: 1 MiB per bus, 4 KiB per function; 256 buses. */
export const ECAM_SIZE = 256 << 20;

const ENABLE = 0x80000000;

/**
 * The host bridge's config mechanisms (QEMU's pci_host.c and pcie_host.c): #1 through the
 * 0xCF8 address latch and the 0xCFC-0xCFF data window, and ECAM (MMCONFIG) in memory space.
 */
export class PciHost {
  /** The CONFIG_ADDRESS latch. */
  latch = 0;

  /** 0xCF8-0xCFB: only a 32-bit write at 0xCF8 latches; any read returns the latch (QEMU's pci_host_config_read). */
  readonly addressRegion = new Region("pci-conf-idx", 4, {
    read: () => this.latch,
    write: (offset, size, value) => {
      if (offset === 0 && size === 4) this.latch = value >>> 0;
    },
  });

  /** 0xCFC-0xCFF: the data window onto the latched function's config space. */
  readonly dataRegion = new Region("pci-conf-data", 4, {
    read: (offset, size) => this.dataRead(offset, size),
    write: (offset, size, value) => this.dataWrite(offset, size, value),
  });

  /** ECAM window: bus, devfn and register come from the address; reaches 4 KiB spaces. */
  readonly ecamRegion = new Region("pcie-mmcfg-mmio", ECAM_SIZE, {
    read: (offset, size) => {
      const fn = this.root.findFunction(offset >>> 20, (offset >>> 12) & 0xff);
      return fn ? fn.read(offset & 0xfff, size, configLimit(fn, fn.space.size)) : 0xffffffff;
    },
    write: (offset, size, value) => {
      const fn = this.root.findFunction(offset >>> 20, (offset >>> 12) & 0xff);
      if (fn) fn.write(offset & 0xfff, value, size, configLimit(fn, fn.space.size));
    },
  });

  constructor(readonly root: PciBus) {}

  /**
   * QEMU ORs the port's low bits into the latch instead of replacing bits 1:0, and does not
   * mask them: with 0x8000000b latched a dword read at 0xCFC returns bytes 0x0b-0x0e.
   * Bits 30:24 are ignored (the bus number is bits 23:16).
   */
  private dataRead(offset: number, size: number): number {
    const latch = this.latch;
    if (!(latch & ENABLE)) return 0xffffffff;
    const addr = latch | (offset & 3);
    const fn = this.root.findFunction((addr >>> 16) & 0xff, (addr >>> 8) & 0xff);
    if (fn === undefined) return 0xffffffff;
    return fn.read(addr & 0xff, size, PCI_CONFIG_SPACE_SIZE);
  }

  private dataWrite(offset: number, size: number, value: number): void {
    const latch = this.latch;
    if (!(latch & ENABLE)) return;
    const addr = latch | (offset & 3);
    const fn = this.root.findFunction((addr >>> 16) & 0xff, (addr >>> 8) & 0xff);
    if (fn !== undefined) fn.write(addr & 0xff, value, size, PCI_CONFIG_SPACE_SIZE);
  }
}

/** QEMU's pci_adjust_config_limit: extended config needs a PCI Express path up to the root. */
export function configLimit(fn: PciFunction, limit: number): number {
  if (limit > PCI_CONFIG_SPACE_SIZE && !fn.bus?.allowsExtendedConfig) return PCI_CONFIG_SPACE_SIZE;
  return limit;
}
