import { injectable } from "tsyringe";
import { MachbusError } from "../errors.js";
import type { IsaDevice } from "../isa/device.js";
import { DRIVER_INFO, pciCommonProperties, type PciDevice } from "../pci/device.js";
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
}

export interface DriverInfo {
  readonly name: string;
  /** Which bus the device sits on: a PCI slot, or the board's ISA bus (fixed ports). */
  readonly bus: "pci" | "isa";
  /** The driver's name followed by the parent type names it answers to. */
  readonly types: readonly string[];
  readonly description: string;
  readonly category: DriverCategory;
  readonly properties: PropertySchema;
  readonly userCreatable: boolean;
  readonly hotpluggable: boolean;
}

/** Any device model the machine can hold. */
export type MachineDevice = PciDevice | IsaDevice;

/** A device model class: constructed by the machine's DI container, described by its DriverInfo. */
export type DriverClass = (abstract new (...args: any[]) => MachineDevice) & { readonly [DRIVER_INFO]: DriverInfo };

/** All drivers known to this process, by name. Machines copy it into their own containers. */
const catalogue = new Map<string, DriverClass>();

/**
 * Class decorator that makes a device model injectable and registers it under its driver name,
 * with the common PCI properties merged into its property schema.
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
    };
    Object.defineProperty(target, DRIVER_INFO, { value: info });
    registerDriver(target as DriverClass);
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
    };
    Object.defineProperty(target, DRIVER_INFO, { value: info });
    registerDriver(target as DriverClass);
  };
}

export function registerDriver(cls: DriverClass): void {
  const name = cls[DRIVER_INFO].name;
  const existing = catalogue.get(name);
  if (existing && existing !== cls) {
    throw new MachbusError("unknown-driver", `driver '${name}' is already registered by another class`);
  }
  catalogue.set(name, cls);
}

/** The process-wide catalogue (drivers registered by decorators). */
export function registeredDrivers(): ReadonlyMap<string, DriverClass> {
  return catalogue;
}

export function driverInfo(cls: DriverClass): DriverInfo {
  return cls[DRIVER_INFO];
}

/** The names a user may give to `-device` (the user-creatable drivers), sorted. */
export function userCreatableNames(drivers: ReadonlyMap<string, DriverClass>): string[] {
  return [...drivers.values()]
    .map(driverInfo)
    .filter((i) => i.userCreatable)
    .map((i) => i.name)
    .sort();
}

/** The driver called `name`; an unknown name is the user's mistake, answered with the valid ones. */
export function findDriver(drivers: ReadonlyMap<string, DriverClass>, name: string): DriverClass {
  const cls = drivers.get(name);
  if (!cls) {
    throw new MachbusError(
      "unknown-driver",
      `'${name}' is not a valid device model name (valid: ${userCreatableNames(drivers).join(", ")})`,
    );
  }
  return cls;
}
