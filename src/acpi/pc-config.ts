/** What the pc ACPI tables describe, as the machine has it when the firmware first reads them. */
export interface PcAcpiConfig {
  /** RAM below and above 4 GiB (the 32-bit PCI hole starts at the end of low RAM). */
  below4g: number;
  above4g: number;
  /** i440FX's pci-hole64-size. */
  pciHole64Size: number;
  /** Where the guest put PIIX4's PM block (PMBASE, config 0x40): the FADT's PM1 and timer blocks. */
  pmBase: number;
  /** A COM1 (QEMU's -serial): the DSDT lists it under the ISA bridge. */
  serial: boolean;
  /** The board's HPET, described in the DSDT and by an HPET table. */
  hpet: boolean;
  rootBus: AcpiBus;
}

/** A bus with ACPI hotplug: its BSEL (hotplug bus number, depth first from the root's 0) and its functions by devfn. */
export interface AcpiBus {
  bsel: number;
  functions: ReadonlyMap<number, AcpiFunction>;
  /** The devfns of its cold-plugged bridges in QEMU's bus-list order (newest first), the order PCNT calls theirs. */
  bridgeOrder: readonly number[];
}

export interface AcpiFunction {
  /** The driver may be hot-unplugged (QEMU's DeviceClass hotpluggable). */
  hotpluggable: boolean;
  /** PIIX3's ISA bridge: it carries the PIRQ fields and the ISA devices. */
  isaBridge: boolean;
  /** A cold-plugged PCI bridge: its secondary bus, described inside it. */
  bridge: AcpiBus | null;
}
