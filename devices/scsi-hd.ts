import { inject } from "tsyringe";
import { busDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { DEVICE_PROPS, MACHINE } from "../src/machine/tokens.js";
import type { BusDeviceProps } from "../src/storage/bus-device.js";
import { ScsiDisk, scsiDeviceProperties, scsiDiskProperties, scsiHdProperties } from "../src/storage/scsi-disk.js";

const properties = { ...scsiDiskProperties, ...scsiHdProperties, ...scsiDeviceProperties };

/**
 * QEMU's "scsi-hd": a disk at a target and LUN of a SCSI bus (lsi53c895a, virtio-scsi-pci). Its
 * geometry is the one given, or QEMU's guess from the image size; commands are not modelled.
 */
@busDriver({
  name: "scsi-hd",
  bus: "scsi",
  description: "virtual SCSI disk",
  category: "storage",
  properties,
  // "scsi-disk" is QEMU 0.12's name for SCSI disks: pc-0.10 and pc-0.11 set its version.
  parents: ["scsi-disk-base", "scsi-device", "scsi-disk"],
})
export class ScsiHd extends ScsiDisk {
  constructor(@inject(DEVICE_PROPS) props: BusDeviceProps<typeof properties>, @inject(MACHINE) machine: Machine) {
    super(props, machine, "hd");
  }
}
