import { inject } from "tsyringe";
import { busDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { DEVICE_PROPS, MACHINE } from "../src/machine/tokens.js";
import type { BusDeviceProps } from "../src/storage/bus-device.js";
import { IdeDevice, ideDeviceProperties, ideDriveProperties } from "../src/storage/ide-device.js";

const properties = { ...ideDriveProperties, ...ideDeviceProperties };

/** QEMU's "ide-cd": an ATAPI CD-ROM drive on an IDE channel, empty without a drive. */
@busDriver({
  name: "ide-cd",
  bus: "ide",
  description: "virtual IDE CD-ROM",
  category: "storage",
  properties,
  parents: ["ide-device", "ide-drive"],
})
export class IdeCd extends IdeDevice {
  constructor(@inject(DEVICE_PROPS) props: BusDeviceProps<typeof properties>, @inject(MACHINE) machine: Machine) {
    super(props, machine, "cd");
  }
}
