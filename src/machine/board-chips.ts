import type { QdevGpio } from "./drivers.js";
import type { PropertySchema } from "./properties.js";

/**
 * A device QEMU's board creates that machbus does not model (the PIT, the RTC, the HPET, ...):
 * `info qtree` shows it with its properties, nothing else knows it. Data, as the board defines it.
 */
export interface BoardChip {
  /** QEMU's type name. */
  readonly type: string;
  /** Parent types compat properties and -global settings may name for it. */
  readonly parents?: readonly string[];
  /** The bus QEMU puts it on: "main-system-bus", or one of `BoardQtree.buses`. */
  readonly bus: string;
  readonly gpios?: readonly QdevGpio[];
  /** Its qdev properties in QEMU's order, defaulting to the values the board gives them; compat and -global apply. */
  readonly properties?: PropertySchema;
  /** System-bus MMIO regions, [address, size], as `info qtree` lists them. */
  readonly mmio?: readonly (readonly [number, number])[];
  /** Empty buses below it (the floppy controller's). */
  readonly buses?: readonly { readonly name: string; readonly type: string }[];
}

/** Where a device machbus does model sits among the chips, when QEMU has it elsewhere (fw_cfg_io: on the system bus). */
export interface BoardModelPlace {
  /** The onboard device's driver name. */
  readonly model: string;
  readonly bus: string;
}

/** The parts of a board's device tree machbus does not model, for `info qtree`. */
export interface BoardQtree {
  /** Unmodelled chips, and the places of modelled devices among them, in the order QEMU creates them. */
  readonly devices: readonly (BoardChip | BoardModelPlace)[];
  /** Buses of modelled devices that machbus does not model, by the owner's driver name (PIIX3's isa.0, PIIX4's i2c). */
  readonly buses: readonly { readonly owner: string; readonly name: string; readonly type: string }[];
  /** The chip the root PCI bus hangs below (QEMU's PCI host bridge device). */
  readonly pciHost: string;
}

/** A chip with its properties resolved for one machine (defaults, compat, -global). */
export interface PlacedChip {
  readonly chip: BoardChip;
  readonly props: Readonly<Record<string, unknown>>;
}

export function isBoardChip(d: BoardChip | BoardModelPlace): d is BoardChip {
  return "type" in d;
}
