import "reflect-metadata";
import { injectable } from "tsyringe";
import { MachbusError } from "../errors.js";
import type { IsaDevice } from "../isa/device.js";
import { DRIVER_INFO, pciCommonProperties, type PciDevice } from "../pci/device.js";
import type { BusDevice } from "../storage/bus-device.js";
import type { ChildBusKind, ChildBusSpec } from "../storage/child-bus.js";
import { prop, types, type PropertySchema } from "./properties.js";

/** QEMU's device categories, as `-device help` groups them. */
export type DriverCategory = "bridge" | "display" | "input" | "misc" | "network" | "sound" | "storage" | "usb";

export interface DriverOptions<S extends PropertySchema> {
  /** The driver name users type: `-device NAME`. */
  name: string;
  description: string;
  category: DriverCategory;
  /** The driver's own properties; the common PCI ones (addr, multifunction, rombar, ...) are added. */
  properties: S;
  /** False for board chips that only the machine type creates (QEMU's user_creatable). */
  userCreatable?: boolean;
  /** False for devices that cannot be added or removed at run time. */
  hotpluggable?: boolean;
  /** QEMU's default option ROM for the device (pc->romfile), e.g. "efi-e1000.rom". */
  romfile?: string;
  /**
   * QEMU type names this driver answers to besides its own, so compat properties and -global
   * settings aimed at them apply: e.g. virtio-net-pci has ["virtio-pci", "virtio-net-device"].
   * Every driver also answers to "pci-device" (and "PCI", its name in QEMU 0.x).
   */
  parents?: readonly string[];
  /** The child buses the device makes (a controller's IDE channels or SCSI bus), in QEMU's creation order. */
  buses?: readonly ChildBusSpec[];
  /** Its GPIO lines, as `info qtree` lists them (QEMU's qdev_init_gpio_in/out). */
  gpios?: readonly QdevGpio[];
  /** Where `info qtree` shows the device's properties when QEMU splits it in two (virtio proxies). */
  qtree?: QtreeLayout;
}

/** A device's named GPIO line group: `gpio-out "smi-irq" 1` in `info qtree`. */
export interface QdevGpio {
  readonly dir: "in" | "out";
  readonly name: string;
  readonly count: number;
}

/**
 * A device QEMU shows as a proxy and a backend on the proxy's own bus (virtio-net-pci holding a
 * virtio-net-device on its virtio-bus): which of the driver's properties each half lists, in
 * QEMU's order. The common PCI properties always go with the proxy, after `proxy`.
 */
export interface QtreeLayout {
  readonly proxy: readonly string[];
  readonly backend: { readonly type: string; readonly bus: string; readonly busType: string; readonly properties: readonly string[] };
}

export interface DriverInfo {
  readonly name: string;
  /** Which bus the device sits on: a PCI slot, the board's ISA bus (fixed ports), or a controller's IDE or SCSI bus. */
  readonly bus: "pci" | "isa" | ChildBusKind;
  /** The driver's name followed by the parent type names it answers to. */
  readonly types: readonly string[];
  readonly description: string;
  readonly category: DriverCategory;
  readonly properties: PropertySchema;
  readonly userCreatable: boolean;
  readonly hotpluggable: boolean;
  readonly buses: readonly ChildBusSpec[];
  readonly gpios: readonly QdevGpio[];
  readonly qtree?: QtreeLayout;
}

/** Any device model the machine can hold. */
export type MachineDevice = PciDevice | IsaDevice | BusDevice;

/** A device model class as written; a catalogue checks that a decorator gave it a DriverInfo. */
export type DeviceClass = abstract new (...args: any[]) => MachineDevice;

/** A device model class: constructed by the machine's DI container, described by its DriverInfo. */
export type DriverClass = DeviceClass & { readonly [DRIVER_INFO]: DriverInfo };

/**
 * Class decorator that makes a device model injectable and describes it (its DriverInfo: driver
 * name, bus, property schema with the common PCI properties merged in). It registers nothing:
 * a machine knows the drivers of the DriverCatalogue it is given.
 */
export function pciDriver<S extends PropertySchema>(options: DriverOptions<S>) {
  return (target: abstract new (...args: any[]) => PciDevice): void => {
    injectable()(target as new (...args: any[]) => PciDevice);
    const common = { ...pciCommonProperties };
    if (options.romfile) common.romfile = prop(types.str, options.romfile, pciCommonProperties.romfile.description);
    const info: DriverInfo = {
      name: options.name,
      bus: "pci",
      types: [options.name, ...(options.parents ?? []), "pci-device", "PCI"],
      description: options.description,
      category: options.category,
      properties: { ...common, ...options.properties },
      userCreatable: options.userCreatable ?? true,
      hotpluggable: options.hotpluggable ?? true,
      buses: options.buses ?? [],
      gpios: options.gpios ?? [],
      ...(options.qtree ? { qtree: options.qtree } : {}),
    };
    Object.defineProperty(target, DRIVER_INFO, { value: info });
  };
}

export type IsaDriverOptions<S extends PropertySchema> = Omit<DriverOptions<S>, "romfile">;

/** Class decorator for ISA devices (fixed ports on the board's ISA bus); no PCI properties are added. */
export function isaDriver<S extends PropertySchema>(options: IsaDriverOptions<S>) {
  return (target: abstract new (...args: any[]) => IsaDevice): void => {
    injectable()(target as new (...args: any[]) => IsaDevice);
    const info: DriverInfo = {
      name: options.name,
      bus: "isa",
      types: [options.name, ...(options.parents ?? []), "isa-device"],
      description: options.description,
      category: options.category,
      properties: { ...options.properties },
      userCreatable: options.userCreatable ?? true,
      hotpluggable: options.hotpluggable ?? false,
      buses: options.buses ?? [],
      gpios: options.gpios ?? [],
    };
    Object.defineProperty(target, DRIVER_INFO, { value: info });
  };
}

export type BusDriverOptions<S extends PropertySchema> = Omit<DriverOptions<S>, "romfile" | "qtree"> & {
  /** The kind of child bus the device plugs into. */
  bus: ChildBusKind;
};

/**
 * Class decorator for devices on a controller's child bus (ide-hd, scsi-cd, ...): their address
 * properties (unit; channel, scsi-id, lun) are in `properties` and the bus parses them. Whether
 * they may be added at run time is the bus's to say (SCSI yes, IDE no), as in QEMU.
 */
export function busDriver<S extends PropertySchema>(options: BusDriverOptions<S>) {
  return (target: abstract new (...args: any[]) => BusDevice): void => {
    injectable()(target as new (...args: any[]) => BusDevice);
    const info: DriverInfo = {
      name: options.name,
      bus: options.bus,
      types: [options.name, ...(options.parents ?? [])],
      description: options.description,
      category: options.category,
      properties: { ...options.properties },
      userCreatable: options.userCreatable ?? true,
      hotpluggable: options.hotpluggable ?? true,
      buses: options.buses ?? [],
      gpios: options.gpios ?? [],
    };
    Object.defineProperty(target, DRIVER_INFO, { value: info });
  };
}

/** What the decorator says about a device model class. */
export function driverInfo(cls: DriverClass): DriverInfo {
  return cls[DRIVER_INFO];
}

/** A class given where a driver is expected, checked: it must carry a DriverInfo. */
function asDriverClass(cls: DeviceClass): DriverClass {
  if (!Object.hasOwn(cls, DRIVER_INFO)) {
    throw new MachbusError(
      "driver-invalid",
      `class ${cls.name} is not a device driver (decorate it with @pciDriver, @isaDriver or @busDriver)`,
    );
  }
  return cls as DriverClass;
}

/**
 * The device models a machine can build, by driver name: an immutable value. `builtinDrivers`
 * (devices/index.ts) holds machbus's own; a user makes another with `with` and `without`, or
 * from scratch, and gives it to `Machine.create({ drivers })`. No catalogue affects another.
 */
export class DriverCatalogue implements Iterable<DriverClass> {
  private readonly byName = new Map<string, DriverClass>();

  /** Throws if a class is not a driver, or two classes claim one name. */
  constructor(drivers: Iterable<DeviceClass> = []) {
    for (const c of drivers) {
      const cls = asDriverClass(c);
      const name = cls[DRIVER_INFO].name;
      const existing = this.byName.get(name);
      if (existing && existing !== cls) {
        throw new MachbusError("driver-invalid", `driver '${name}' is defined twice: by class ${existing.name} and by class ${cls.name}`);
      }
      this.byName.set(name, cls);
    }
  }

  /** A new catalogue: this one's drivers and `drivers` (a name already here must be the same class). */
  with(...drivers: DeviceClass[]): DriverCatalogue {
    return new DriverCatalogue([...this.byName.values(), ...drivers]);
  }

  /** A new catalogue without the named drivers, e.g. to replace a built-in model by one's own. */
  without(...names: string[]): DriverCatalogue {
    for (const name of names) this.find(name);
    const drop = new Set(names);
    return new DriverCatalogue([...this.byName.values()].filter((cls) => !drop.has(cls[DRIVER_INFO].name)));
  }

  get size(): number {
    return this.byName.size;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): DriverClass | undefined {
    return this.byName.get(name);
  }

  /** The driver called `name`; an unknown name is the user's mistake, answered with the valid ones. */
  find(name: string): DriverClass {
    const cls = this.byName.get(name);
    if (!cls) {
      throw new MachbusError("unknown-driver", `'${name}' is not a valid device model name (valid: ${this.names().join(", ")})`);
    }
    return cls;
  }

  /** The names a user may give to `-device` (the user-creatable drivers), sorted. */
  names(): string[] {
    return [...this.byName.values()]
      .map(driverInfo)
      .filter((i) => i.userCreatable)
      .map((i) => i.name)
      .sort();
  }

  [Symbol.iterator](): Iterator<DriverClass> {
    return this.byName.values();
  }
}
