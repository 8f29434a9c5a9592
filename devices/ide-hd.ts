import { inject } from "tsyringe";
import { busDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { DEVICE_PROPS, MACHINE } from "../src/machine/tokens.js";
import type { BusDeviceProps } from "../src/storage/bus-device.js";
import { IdeDevice, ideDeviceProperties, ideDiskProperties, ideDriveProperties } from "../src/storage/ide-device.js";

const properties = { ...ideDriveProperties, ...ideDiskProperties, ...ideDeviceProperties };

/**
 * QEMU's "ide-hd": a disk at an IDE channel's master (unit 0) or slave (unit 1). Its geometry is
 * the one given, or QEMU's guess from the image size; IDENTIFY and data transfers are not modelled.
 */
@busDriver({
  name: "ide-hd",
  bus: "ide",
  description: "virtual IDE disk",
  category: "storage",
  properties,
  // "ide-drive" is QEMU 0.12's name for IDE drives: pc-0.10 and pc-0.11 set its firmware version.
  parents: ["ide-device", "ide-drive"],
})
export class IdeHd extends IdeDevice {
  constructor(@inject(DEVICE_PROPS) props: BusDeviceProps<typeof properties>, @inject(MACHINE) machine: Machine) {
    super(props, machine, "hd");
  }
}
