import { inject } from "tsyringe";
import { busDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { DEVICE_PROPS, MACHINE } from "../src/machine/tokens.js";
import type { BusDeviceProps } from "../src/storage/bus-device.js";
import { ScsiDisk, scsiCdProperties, scsiDeviceProperties, scsiDiskProperties } from "../src/storage/scsi-disk.js";

const properties = { ...scsiDiskProperties, ...scsiCdProperties, ...scsiDeviceProperties };

/** QEMU's "scsi-cd": a CD-ROM drive at a SCSI target and LUN, empty without a drive. */
@busDriver({
  name: "scsi-cd",
  bus: "scsi",
  description: "virtual SCSI CD-ROM",
  category: "storage",
  properties,
  parents: ["scsi-disk-base", "scsi-device", "scsi-disk"],
})
export class ScsiCd extends ScsiDisk {
  constructor(@inject(DEVICE_PROPS) props: BusDeviceProps<typeof properties>, @inject(MACHINE) machine: Machine) {
    super(props, machine, "cd");
  }
}
