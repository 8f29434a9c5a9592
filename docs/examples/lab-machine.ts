/**
 * A machine-definition script (docs/scripts.md; test/run-scripts.test.ts runs it through the CLI):
 *
 *   npx machbus run docs/examples/lab-machine.ts info pci
 *   npx machbus run docs/examples/lab-machine.ts slots
 *   LAB_NICS=6 npx machbus run docs/examples/lab-machine.ts layout
 *
 * It defines a device of its own (decorators work: no build step) and default-exports a function
 * of the API that builds the device list with a loop and a condition.
 */
import { DEVICE_PROPS, PciDevice, inject, pciDriver, prop, types, type DeviceProps } from "machbus";

const counterProperties = {
  start: prop(types.uint32, 0, "the counter's value after reset"),
};

/** A lab counter: one 4 KiB register BAR whose first dword counts the reads of it. */
@pciDriver({ name: "lab-counter", description: "lab read counter", category: "misc", properties: counterProperties })
export class LabCounter extends PciDevice {
  private count: number;

  constructor(@inject(DEVICE_PROPS) private readonly settings: DeviceProps<typeof counterProperties>) {
    super({ vendorId: 0x1234, deviceId: 0x1ab0, classCode: 0xff00 }, settings);
    this.count = settings.start;
    this.defineBar(0, { kind: "mem32", size: 0x1000, name: "lab-counter", ops: { read: () => this.count++, write: () => {} } });
  }

  protected override resetRegisters(): void {
    this.count = this.settings.start;
  }
}

export default (api: typeof import("machbus")) => {
  const nics = Number(process.env.LAB_NICS ?? 3);
  const devices = ["pci-bridge,id=lab,chassis_nr=1,addr=8"];
  for (let i = 0; i < nics; i++) {
    // The first two NICs on the root bus, the rest behind the lab bridge.
    devices.push(`e1000,id=nic${i}${i < 2 ? "" : ",bus=lab"}`);
  }
  if (nics > 4) devices.push("virtio-blk-pci,id=disk,drive=d0");
  devices.push("lab-counter,id=counter,start=100");
  return {
    machine: api.builtinMachineTypes.default().name,
    memory: "256M",
    allocator: "irq-balance",
    drivers: [LabCounter], // the built-in catalogue plus our own model
    devices,
    drives: nics > 4 ? ["if=none,id=d0,file=lab.img"] : [],
  };
};
