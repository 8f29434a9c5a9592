import { describe, expect, it } from "vitest";
import {
  DEVICE_PROPS,
  DriverCatalogue,
  Machine,
  MachbusError,
  MachineTypeRegistry,
  PciDevice,
  builtinDrivers,
  builtinMachineTypes,
  i440fxBoard,
  inject,
  pciDriver,
  type DeviceProps,
} from "../src/index.js";
import { BarTestDevice } from "./support/test-devices.js";

const nicProperties = {};

/** A NIC of a user's own, under a built-in's name: it may only replace e1000 in a catalogue that drops machbus's. */
@pciDriver({ name: "e1000", description: "someone else's e1000", category: "network", properties: nicProperties })
class OtherE1000 extends PciDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof nicProperties>) {
    super({ vendorId: 0x1af4, deviceId: 0x0e10, classCode: 0x0200 }, props);
  }
}

/** Not decorated: a catalogue refuses it. */
class NotADriver extends PciDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof nicProperties>) {
    super({ vendorId: 0x1234, deviceId: 0x0001, classCode: 0x00ff }, props);
  }
}

const vendorAt = (m: Machine, slot: number): number => m.configRead(0, slot << 3, 0) & 0xffff;

function errorOf(fn: () => unknown): MachbusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MachbusError) return e;
    throw e;
  }
  throw new Error("no error thrown");
}

describe("driver catalogues are values a machine is given", () => {
  it("decorating a class registers it nowhere: a machine without it in its catalogue cannot build it", () => {
    expect(builtinDrivers.has("test-bars")).toBe(false);
    expect(errorOf(() => Machine.create({ devices: ["test-bars"] })).message).toMatch(/^'test-bars' is not a valid device model name/);
    expect(vendorAt(Machine.create({ devices: ["test-bars,addr=5"], drivers: [BarTestDevice] }), 5)).toBe(0x1234);
  });

  it("with() and without() make new catalogues and leave the one they start from as it was", () => {
    const before = [...builtinDrivers];
    const mine = builtinDrivers.with(BarTestDevice);
    const fewer = builtinDrivers.without("e1000", "rtl8139");
    expect([...builtinDrivers]).toEqual(before);
    expect(mine.size).toBe(before.length + 1);
    expect(fewer.size).toBe(before.length - 2);
    expect(fewer.has("e1000")).toBe(false);
    expect(builtinDrivers.has("e1000")).toBe(true);
  });

  it("two machines given different catalogues each know only their own drivers", () => {
    const a = Machine.create({ drivers: builtinDrivers.with(BarTestDevice) });
    const b = Machine.create({ drivers: builtinDrivers.without("e1000") });
    a.addDevice("test-bars,addr=5");
    expect(() => b.addDevice("test-bars,addr=5")).toThrow("'test-bars' is not a valid device model name");
    expect(() => b.addDevice("e1000")).toThrow("'e1000' is not a valid device model name");
    a.addDevice("e1000,addr=6");
    expect(vendorAt(a, 6)).toBe(0x8086);
    expect(a.drivers.names()).toContain("test-bars");
    expect(b.drivers.names()).not.toContain("test-bars");
  });

  it("a catalogue of only the user's devices still builds the pc board, whose chips come with the board", () => {
    const m = Machine.create({ drivers: new DriverCatalogue([BarTestDevice]), devices: ["test-bars,addr=5"] });
    expect(m.drivers.names()).toEqual(["test-bars"]);
    expect(m.configRead(0, 0, 0)).toBe(0x12378086); // the i440FX
    expect(vendorAt(m, 5)).toBe(0x1234);
    expect(() => m.addDevice("pci-bridge,chassis_nr=1")).toThrow("'pci-bridge' is not a valid device model name (valid: test-bars)");
    for (const chip of i440fxBoard.drivers!) expect([...m.drivers]).toContain(chip);
  });

  it("a built-in model is replaced by dropping it first; two classes under one name are refused, naming both", () => {
    const replaced = Machine.create({ drivers: builtinDrivers.without("e1000").with(OtherE1000), devices: ["e1000,addr=5"] });
    expect(vendorAt(replaced, 5)).toBe(0x1af4);
    const clash = errorOf(() => builtinDrivers.with(OtherE1000));
    expect(clash.code).toBe("driver-invalid");
    expect(clash.message).toBe("driver 'e1000' is defined twice: by class E1000 and by class OtherE1000");
  });

  it("refuses a class no decorator described, and the name of a driver it does not hold", () => {
    const undecorated = errorOf(() => new DriverCatalogue([NotADriver]));
    expect(undecorated.code).toBe("driver-invalid");
    expect(undecorated.message).toBe("class NotADriver is not a device driver (decorate it with @pciDriver, @isaDriver or @busDriver)");
    expect(errorOf(() => builtinDrivers.without("e1001")).message).toMatch(/^'e1001' is not a valid device model name \(valid: /);
  });
});

describe("machine-type registries are values a machine is given", () => {
  const acme = { name: "acme-1.0", description: "ACME board", board: i440fxBoard };

  it("with() adds types to a new registry; the built-in one, and machines using it, are unaffected", () => {
    const more = builtinMachineTypes.with(acme);
    expect(Machine.create({ machine: "acme-1.0", machineTypes: more }).type.name).toBe("acme-1.0");
    expect(Machine.create({ machineTypes: more }).type.name).toBe("pc-qemu-7.2");
    expect(() => Machine.create({ machine: "acme-1.0" })).toThrow("unsupported machine type 'acme-1.0'");
    expect(builtinMachineTypes.list().map((t) => t.name)).not.toContain("acme-1.0");
  });

  it("refuses a name or alias used twice, and two defaults", () => {
    expect(() => builtinMachineTypes.with({ ...acme, aliases: ["pc"] })).toThrow("machine type name 'pc' is already used by pc-qemu-7.2");
    expect(() => builtinMachineTypes.with({ ...acme, isDefault: true })).toThrow(
      "machine types pc-qemu-7.2 and acme-1.0 are each marked as the default; at most one may be",
    );
    const none = new MachineTypeRegistry([acme]);
    expect(errorOf(() => Machine.create({ machineTypes: none })).message).toBe("no machine type is marked as the default: name one");
    expect(Machine.create({ machine: "acme-1.0", machineTypes: none }).type.name).toBe("acme-1.0");
  });
});
