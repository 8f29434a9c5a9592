import type { OverlapReport } from "./memory/address-space.js";

/** A BAR started, stopped or moved decoding. Addresses are null when the BAR decodes nothing. */
export interface BarMappingEvent {
  /** The device's id, or its driver name when it has none. */
  readonly device: string;
  readonly driver: string;
  readonly bdf: string;
  readonly bar: number;
  readonly space: "io" | "memory";
  readonly size: number;
  readonly oldAddress: bigint | null;
  readonly newAddress: bigint | null;
}

/**
 * A board device mapped, moved or unmapped a register block of its own that is not a BAR (PIIX4's
 * PM block at PMBASE): what an embedder that routes ports or addresses itself must follow.
 */
export interface RegionMappingEvent {
  /** The device's id, or its driver name when it has none. */
  readonly device: string;
  readonly region: string;
  readonly space: "io" | "memory";
  readonly size: number;
  readonly oldAddress: number | null;
  readonly newAddress: number | null;
}

/** A byte the guest wrote to an isa-debugcon port. */
export interface DebugconEvent {
  readonly iobase: number;
  readonly byte: number;
}

/** An interrupt line of the board's interrupt controller changed level. */
export interface IrqEvent {
  readonly line: number;
  readonly level: boolean;
}

/** A PCI INTx link (PIRQ A-D on pc) changed level. */
export interface IntxEvent {
  readonly link: number;
  readonly level: boolean;
}

export interface MsiEvent {
  readonly device: string;
  readonly bdf: string;
  readonly address: bigint;
  readonly data: number;
}

export interface DeviceEvent {
  readonly id: string | null;
  readonly driver: string;
  /** The device's PCI address; for a drive, its controller's. */
  readonly bdf: string;
  /** For a drive on a controller's bus: the bus and its address there ("s.0 scsi-id 3 lun 0"). */
  readonly address?: string;
}

/** Everything a machine reports to its embedder (eventemitter3 event map). */
export interface MachineEvents {
  "bar-mapped": (event: BarMappingEvent) => void;
  "bar-unmapped": (event: BarMappingEvent) => void;
  "region-mapped": (event: RegionMappingEvent) => void;
  "region-unmapped": (event: RegionMappingEvent) => void;
  "mapping-overlap": (report: OverlapReport) => void;
  irq: (event: IrqEvent) => void;
  intx: (event: IntxEvent) => void;
  msi: (event: MsiEvent) => void;
  "device-added": (event: DeviceEvent) => void;
  "device-deleted": (event: DeviceEvent) => void;
  /** The guest asked for a system reset (PIIX3 0xCF9 bit 2); the embedder decides what to do. */
  "reset-request": (event: { readonly source: string }) => void;
  /**
   * The guest powered the machine off: ACPI PM1 control written with SLP_EN and the soft-off (S5)
   * sleep type, or the S4 one, as QEMU ends the machine on both (`sleepType` is which). The
   * embedder decides what to do; `machbus boot` stops.
   */
  "shutdown-request": (event: { readonly source: string; readonly sleepType: number }) => void;
  /**
   * Something the machine accepted but QEMU warns about, as QEMU prints it after its program
   * name: "-device virtio-net-pci,vectors=99999: warning: unable to init msix vectors to 99999".
   */
  warning: (event: { readonly message: string }) => void;
  /** The guest wrote a byte to a debug console (isa-debugcon). */
  debugcon: (event: DebugconEvent) => void;
}
