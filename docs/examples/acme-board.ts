/**
 * A worked example (docs/writing-devices.md, docs/machine-types.md; test/worked-example.test.ts
 * runs it): a device model of our own and a machine type of our own, given to the machines that
 * use them, without touching machbus or any other machine.
 */
// In your own project: from "machbus".
import {
  DEVICE_PROPS,
  Machine,
  MachineTypeRegistry,
  PciDevice,
  builtinDrivers,
  describeState,
  i440fxBoard,
  inject,
  pciDriver,
  prop,
  types,
  u32,
  type Board,
  type DeviceProps,
} from "../../src/index.js";

// ---- a device: the ACME watchdog --------------------------------------------------------

const watchdogProperties = {
  timeout: prop(types.uint32, 10, "ticks before the watchdog fires"),
};

/** Register offsets in BAR 0. */
const REG_COUNTER = 0x0; // ticks left; reads only
const REG_KICK = 0x4; // any write reloads the counter and drops the interrupt

/** What a snapshot keeps of the watchdog: the ticks left (INTA follows from it). */
interface WatchdogRegisters {
  counter: number;
}

const WATCHDOG_STATE = describeState<WatchdogRegisters>({ name: "acme-watchdog", version: 1, fields: [u32("counter")] });

/**
 * ACME PCI watchdog: a 4 KiB register BAR with a down-counter that raises INTA when it reaches
 * zero. `tick()` is called by whoever models time (here: the test).
 */
@pciDriver({ name: "acme-watchdog", description: "ACME PCI watchdog", category: "misc", properties: watchdogProperties })
export class AcmeWatchdog extends PciDevice {
  private readonly state: WatchdogRegisters;

  constructor(@inject(DEVICE_PROPS) private readonly settings: DeviceProps<typeof watchdogProperties>) {
    super({ vendorId: 0x1234, deviceId: 0xa0a0, classCode: 0x0880, interruptPin: 1 }, settings);
    this.state = { counter: settings.timeout };
    this.function.keepState(WATCHDOG_STATE, this.state);
    this.defineBar(0, {
      kind: "mem32",
      size: 0x1000,
      name: "acme-watchdog-mmio",
      ops: {
        read: (offset) => (offset === REG_COUNTER ? this.state.counter : 0),
        write: (offset) => {
          if (offset === REG_KICK) this.kick();
        },
      },
    });
  }

  tick(): void {
    if (this.state.counter === 0) return;
    this.state.counter--;
    if (this.state.counter === 0) this.setIrq(true);
  }

  private kick(): void {
    this.state.counter = this.settings.timeout;
    this.setIrq(false);
  }

  protected override resetRegisters(): void {
    this.state.counter = this.settings.timeout;
  }
}

// ---- a machine type: the ACME board ------------------------------------------------------

/**
 * The ACME board: the pc chipset, but only 24 slots are wired, slot 0x10 belongs to the BMC,
 * the watchdog must sit in slot 2, and slots 3-7 cannot be hot-plugged.
 */
export const acmeBoard: Board = {
  name: "acme",
  properties: {},
  drivers: i440fxBoard.drivers, // the chips build() plugs, known whatever catalogue a machine has
  ramBelow4g: i440fxBoard.ramBelow4g, // pc's memory map: RAM split below and above 4 GiB as QEMU does
  cmosBytes: i440fxBoard.cmosBytes,
  build(machine, options) {
    i440fxBoard.build(machine, { ...options, ecam: null });
    const bus = machine.rootBus;
    for (let slot = 0x18; slot < 0x20; slot++) bus.slotRules.set(slot, { kind: "absent" });
    bus.slotRules.set(0x10, { kind: "reserved", reason: "baseboard management controller" });
    bus.slotRules.set(2, { kind: "dedicated", driver: "acme-watchdog", reason: "watchdog header" });
    for (let slot = 3; slot <= 7; slot++) bus.hotplugSlots &= ~(1 << slot);
  },
};

/** ACME's machine types, and only those (`builtinMachineTypes.with(...)` would keep the pc types too). */
export const acmeTypes = new MachineTypeRegistry([
  { name: "acme-1.0", description: "ACME board, first revision", board: acmeBoard, isDefault: true },
  {
    name: "acme-0.9",
    description: "ACME board prototype (watchdog fired after 5 ticks)",
    board: acmeBoard,
    newer: "acme-1.0",
    compat: [{ driver: "acme-watchdog", property: "timeout", value: "5" }],
  },
]);

/** The device models an ACME machine can build: machbus's own and the watchdog. */
export const acmeDrivers = builtinDrivers.with(AcmeWatchdog);

/** Builds an ACME machine. */
export function acmeMachine(version: string, devices: string[] = []): Machine {
  return Machine.create({ machine: version, machineTypes: acmeTypes, drivers: acmeDrivers, devices });
}
