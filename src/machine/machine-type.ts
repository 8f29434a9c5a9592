import { MachbusError } from "../errors.js";
import type { PropertySchema } from "./properties.js";
import type { Machine } from "./machine.js";

/** One compat property: a per-driver default that keeps an old machine type's guest ABI. */
export interface CompatProperty {
  readonly driver: string;
  readonly property: string;
  readonly value: string;
}

/** A board: the chipset and the fixed wiring a machine type builds before any user device. */
export interface Board {
  readonly name: string;
  /** Machine options the board understands (`--machine pc,ecam=0xb0000000`). */
  readonly properties: PropertySchema;
  /** Sets up interrupt routing and plugs the onboard devices into a fresh machine. */
  build(machine: Machine, options: Record<string, unknown>): void;
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
  readonly isDefault?: boolean;
}

/** A registered type with its compat chain resolved. */
export interface MachineType extends MachineTypeDefinition {
  readonly aliases: readonly string[];
  /** Effective compat properties, newest delta first (later entries override earlier ones). */
  readonly compatChain: readonly CompatProperty[];
}

/** Versioned machine types, as QEMU's `-M help` lists them. */
export class MachineTypeRegistry {
  private readonly types = new Map<string, MachineTypeDefinition>();
  /** Families ("pc-qemu-", "pc-q35-") in the order their first type was registered. */
  private readonly families: string[] = [];

  register(def: MachineTypeDefinition): void {
    for (const name of [def.name, ...(def.aliases ?? [])]) {
      const clash = this.find(name);
      if (clash && clash.name !== def.name) {
        throw new MachbusError("machine-type-invalid", `machine type name '${name}' is already used by ${clash.name}`);
      }
    }
    this.types.set(def.name, def);
    if (!this.families.includes(family(def.name))) this.families.push(family(def.name));
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

  /** All types: families in registration order, newest first within each (the order `machbus machines` prints). */
  list(): MachineType[] {
    const rank = (d: MachineTypeDefinition): number => this.families.indexOf(family(d.name));
    return [...this.types.values()].sort((a, b) => rank(a) - rank(b) || compareVersions(a, b)).map((d) => this.complete(d));
  }

  default(): MachineType {
    const defs = [...this.types.values()].filter((d) => d.isDefault);
    if (defs.length !== 1) {
      throw new MachbusError("machine-type-invalid", `expected exactly one default machine type, found ${defs.length}`);
    }
    return this.complete(defs[0]!);
  }

  private find(name: string): MachineTypeDefinition | undefined {
    const direct = this.types.get(name);
    if (direct) return direct;
    for (const d of this.types.values()) if (d.aliases?.includes(name)) return d;
    return undefined;
  }

  private complete(def: MachineTypeDefinition): MachineType {
    return { ...def, aliases: def.aliases ?? [], compatChain: this.chain(def, new Set()) };
  }

  private chain(def: MachineTypeDefinition, seen: Set<string>): CompatProperty[] {
    if (seen.has(def.name)) {
      throw new MachbusError("machine-type-invalid", `machine type ${def.name}: its 'newer' chain loops`);
    }
    seen.add(def.name);
    const newer = def.newer ? this.types.get(def.newer) : undefined;
    if (def.newer && !newer) {
      throw new MachbusError("machine-type-invalid", `machine type ${def.name}: newer type '${def.newer}' is not registered`);
    }
    return [...(newer ? this.chain(newer, seen) : []), ...(def.compat ?? [])];
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

/** The process-wide registry; machine-type modules (machines/*.ts) register into it on import. */
export const machineTypes = new MachineTypeRegistry();
