import { MachbusError } from "../errors.js";
import type { BoardQtree } from "./board-chips.js";
import type { DeviceClass } from "./drivers.js";
import type { PropertySchema } from "./properties.js";
import type { Machine } from "./machine.js";
import type { AcpiFiles } from "../acpi/pc-tables.js";

/** One compat property: a per-driver default that keeps an old machine type's guest ABI. */
export interface CompatProperty {
  readonly driver: string;
  readonly property: string;
  readonly value: string;
}

/**
 * What a machine type decides beyond device properties: QEMU's MachineClass / PCMachineClass
 * fields that change what firmware is told. Each version states only what it changes, as a
 * delta over the next newer type (like its compat properties).
 */
export interface MachineClassFields {
  /** has_acpi_build: QEMU builds the ACPI tables, so fw_cfg lists etc/table-loader (SeaBIOS then moves the PM base to 0x600). */
  readonly acpiBuild: boolean;
  /**
   * machbus serves QEMU 7.2's own tables for this type (Board.acpiTables). Older types with
   * acpiBuild got other tables from QEMU (legacy sizes, ACPI 2.0 RSDP, the legacy CPU hotplug
   * AML) that machbus does not reproduce: their loader stays empty and SeaBIOS builds its own.
   */
  readonly qemuAcpiTables: boolean;
  /** gigabyte_align: RAM that must be split ends at 3 GiB below 4 GiB, not at max-ram-below-4g. */
  readonly gigabyteAlign: boolean;
  /** enforce_amd_1tb_hole: the e820 table reserves AMD's HyperTransport hole (QEMU's qemu64 CPU is an AMD one). */
  readonly amd1tbHole: boolean;
  /** legacy_fw_cfg_order: fw_cfg files in QEMU's fixed order instead of by name, and no bios-geometry. */
  readonly legacyFwCfgOrder: boolean;
  /** acpi_data_size: bytes at the top of low RAM kept for ACPI tables; a -kernel's initrd ends below them. */
  readonly acpiDataSize: number;
  /** hw_version: the version IDE and SCSI drives report (their `ver` default). */
  readonly hwVersion: string;
  /**
   * QEMU 0.12's pc_init1, for the seed-era types: the board itself makes an lsi53c895a for each
   * SCSI bus `-drive if=scsi` names (its drives at their units), and the virtio-blk-pci of each
   * `-drive if=virtio`, before any -device. QEMU 7.2 makes no SCSI controller and adds the
   * virtio-blk-pci devices after the -device ones.
   */
  readonly boardMakesDriveControllers: boolean;
}

/** QEMU 7.2's values (pc_machine_class_init); versioned types override some. */
export const MACHINE_CLASS_DEFAULTS: MachineClassFields = {
  acpiBuild: true,
  qemuAcpiTables: true,
  gigabyteAlign: true,
  amd1tbHole: true,
  legacyFwCfgOrder: false,
  acpiDataSize: 0x20000 + 0x8000,
  hwVersion: "2.5+", // QEMU_HW_VERSION: types from 2.5 on report it
  boardMakesDriveControllers: false,
};

/** Where the board puts guest RAM in physical memory. */
export interface RamLayout {
  readonly size: number;
  /** RAM from address 0 up (QEMU's below_4g_mem_size). */
  readonly below4g: number;
  /** RAM from 4 GiB up (above_4g_mem_size). */
  readonly above4g: number;
}

/** A board: the chipset and the fixed wiring a machine type builds before any user device. */
export interface Board {
  readonly name: string;
  /** Machine options the board understands (`--machine pc,ecam=0xb0000000`). */
  readonly properties: PropertySchema;
  /**
   * The device models of the board's own chips (what `build` plugs): a machine knows them
   * whatever driver catalogue it is given.
   */
  readonly drivers?: readonly DeviceClass[];
  /** Sets up interrupt routing and plugs the onboard devices into a fresh machine. */
  build(machine: Machine, options: Record<string, unknown>): void;
  /** The interface of a `-drive` without `if=` (QEMU's block_default_type: IDE on pc); default none. */
  readonly driveInterface?: "ide" | "scsi" | "virtio" | "none";
  /** The board's devices machbus does not model, for `info qtree` (board-chips.ts). */
  readonly qtree?: BoardQtree;
  /** How much of `ramSize` lies below 4 GiB (the rest goes above); without it, all of it. */
  ramBelow4g?(ramSize: number, options: Record<string, unknown>, machineClass: MachineClassFields): number;
  /** RTC CMOS bytes (index, value) the board's firmware reads for this layout, for hosts whose RTC holds the CMOS. */
  cmosBytes?(layout: RamLayout): ReadonlyMap<number, number>;
  /**
   * The ACPI tables QEMU builds for this board (fw_cfg etc/table-loader, etc/acpi/tables,
   * etc/acpi/rsdp), from the machine as it is when the firmware first reads them; without it
   * the loader is empty and the firmware builds its own.
   */
  acpiTables?(machine: Machine): AcpiFiles;
}

export interface MachineTypeDefinition {
  /** Canonical name, e.g. "pc-qemu-7.2"; this is what dumps record. */
  readonly name: string;
  /** Other names that select this type: "pc", "pc-i440fx-7.2". */
  readonly aliases?: readonly string[];
  readonly description: string;
  readonly board: Board;
  /** The type this one's compat list is a delta over (QEMU: the next newer version). */
  readonly newer?: string;
  /** Compat properties this version adds on top of `newer`'s. */
  readonly compat?: readonly CompatProperty[];
  /** Machine-class fields this version changes from `newer`'s. */
  readonly classFields?: Partial<MachineClassFields>;
  readonly isDefault?: boolean;
}

/** A registered type with its compat chain resolved. */
export interface MachineType extends MachineTypeDefinition {
  readonly aliases: readonly string[];
  /** Effective compat properties, newest delta first (later entries override earlier ones). */
  readonly compatChain: readonly CompatProperty[];
  /** Effective machine-class fields: the defaults, then each delta from the newest to this type's. */
  readonly machineClass: MachineClassFields;
}

/**
 * Versioned machine types, as QEMU's `-M help` lists them: an immutable value. `builtinMachineTypes`
 * (machines/index.ts) holds machbus's own; `with` makes a registry with more, and a machine is
 * given one with `Machine.create({ machineTypes })`. No registry affects another.
 */
export class MachineTypeRegistry {
  private readonly types = new Map<string, MachineTypeDefinition>();
  /** Families ("pc-qemu-", "pc-q35-") in the order their first type was given. */
  private readonly families: string[] = [];

  /** Throws if two definitions claim a name or an alias, or more than one is the default. */
  constructor(definitions: Iterable<MachineTypeDefinition> = []) {
    for (const def of definitions) {
      for (const name of [def.name, ...(def.aliases ?? [])]) {
        const clash = this.find(name);
        if (clash && clash !== def) {
          throw new MachbusError("machine-type-invalid", `machine type name '${name}' is already used by ${clash.name}`);
        }
      }
      this.types.set(def.name, def);
      if (!this.families.includes(family(def.name))) this.families.push(family(def.name));
    }
    const defaults = [...this.types.values()].filter((d) => d.isDefault);
    if (defaults.length > 1) {
      throw new MachbusError(
        "machine-type-invalid",
        `machine types ${defaults.map((d) => d.name).join(" and ")} are each marked as the default; at most one may be`,
      );
    }
  }

  /** A new registry: this one's types and `definitions`. */
  with(...definitions: MachineTypeDefinition[]): MachineTypeRegistry {
    return new MachineTypeRegistry([...this.types.values(), ...definitions]);
  }

  /** Looks a type up by name or alias; throws listing the valid names. */
  resolve(name: string): MachineType {
    const def = this.find(name);
    if (!def) {
      throw new MachbusError(
        "unknown-machine",
        `unsupported machine type '${name}' (valid: ${this.list()
          .map((t) => t.name)
          .join(", ")}; aliases: ${this.list()
          .flatMap((t) => t.aliases)
          .join(", ")})`,
      );
    }
    return this.complete(def);
  }

  /** All types: families in the order given, newest first within each (the order `machbus machines` prints). */
  list(): MachineType[] {
    const rank = (d: MachineTypeDefinition): number => this.families.indexOf(family(d.name));
    return [...this.types.values()].sort((a, b) => rank(a) - rank(b) || compareVersions(a, b)).map((d) => this.complete(d));
  }

  /** The type a machine gets when none is named. */
  default(): MachineType {
    const def = [...this.types.values()].find((d) => d.isDefault);
    if (!def) throw new MachbusError("unknown-machine", "no machine type is marked as the default: name one");
    return this.complete(def);
  }

  private find(name: string): MachineTypeDefinition | undefined {
    const direct = this.types.get(name);
    if (direct) return direct;
    for (const d of this.types.values()) if (d.aliases?.includes(name)) return d;
    return undefined;
  }

  private complete(def: MachineTypeDefinition): MachineType {
    const lineage = this.lineage(def, new Set());
    return {
      ...def,
      aliases: def.aliases ?? [],
      compatChain: lineage.flatMap((d) => d.compat ?? []),
      machineClass: Object.assign({}, MACHINE_CLASS_DEFAULTS, ...lineage.map((d) => d.classFields ?? {})) as MachineClassFields,
    };
  }

  /** The type's `newer` chain, newest first, ending with the type itself. */
  private lineage(def: MachineTypeDefinition, seen: Set<string>): MachineTypeDefinition[] {
    if (seen.has(def.name)) {
      throw new MachbusError("machine-type-invalid", `machine type ${def.name}: its 'newer' chain loops`);
    }
    seen.add(def.name);
    const newer = def.newer ? this.types.get(def.newer) : undefined;
    if (def.newer && !newer) {
      throw new MachbusError("machine-type-invalid", `machine type ${def.name}: newer type '${def.newer}' is not registered`);
    }
    return [...(newer ? this.lineage(newer, seen) : []), def];
  }
}

/** A type's name without its version: "pc-qemu-" for "pc-qemu-7.2". */
function family(name: string): string {
  return name.replace(/[\d.]+$/, "");
}

/** Orders "pc-qemu-7.2" before "pc-qemu-1.4" before "pc-qemu-0.11", and 4.1 before 4.0.1 before 4.0: newest first. */
function compareVersions(a: MachineTypeDefinition, b: MachineTypeDefinition): number {
  const va = versionOf(a.name);
  const vb = versionOf(b.name);
  for (let i = 0; i < Math.max(va.length, vb.length); i++) {
    const d = (vb[i] ?? 0) - (va[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

function versionOf(name: string): number[] {
  const m = /([\d.]+)$/.exec(name);
  return m ? m[1]!.split(".").map(Number) : [];
}
