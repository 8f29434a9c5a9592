import { MachbusError } from "../errors.js";
import type { Machine } from "../machine/machine.js";
import { bootindexProperty, prop, types } from "../machine/properties.js";
import {
  DISCARD_UNSET,
  SECTOR,
  blockGeometry,
  blockProperties,
  blockSizes,
  checkBlockSizeProperties,
  chsProperties,
  type Geometry,
} from "./block-conf.js";
import { BusDevice, type BusDeviceProps } from "./bus-device.js";
import { scsiAddressProperties } from "./scsi-bus.js";

const DEFAULT_DISCARD_GRANULARITY = 4096;
/** QEMU truncates a serial to 20 characters where it stands in for the device identifier. */
const MAX_SERIAL_LEN_FOR_DEVID = 20;

/** QEMU's DEFINE_SCSI_DISK_PROPERTIES after the block ones: the INQUIRY strings. */
export const scsiDiskProperties = {
  ...blockProperties,
  ver: prop(types.str, "", "product revision INQUIRY reports; empty: the machine type's hardware version"),
  serial: prop(types.str, "", "unit serial number"),
  vendor: prop(types.str, "", "INQUIRY vendor; empty: QEMU"),
  product: prop(types.str, "", "INQUIRY product; empty: QEMU HARDDISK or QEMU CD-ROM"),
  device_id: prop(types.str, "", "device identification VPD; empty: the serial, else the drive's name"),
};

export const scsiIdentityProperties = {
  wwn: prop(types.uint64, 0, "world wide name"),
  port_wwn: prop(types.uint64, 0, "world wide name of the target port"),
  port_index: prop(types.uint16, 0, "relative port index"),
};

/** What scsi-hd lists besides the INQUIRY strings, in QEMU's order up to the geometry. */
export const scsiHdProperties = {
  removable: prop(types.bool, false, "reports a removable medium"),
  dpofua: prop(types.bool, false, "reports DPO and FUA support"),
  ...scsiIdentityProperties,
  max_unmap_size: prop(types.uint64, 1 << 30, "block limits VPD: largest unmap in bytes"),
  max_io_size: prop(types.uint64, 0x7fffffff, "block limits VPD: largest transfer in bytes"),
  rotation_rate: prop(types.uint16, 0, "block device characteristics VPD: 0 unreported, 1 solid state, else rpm"),
  scsi_version: prop(types.int32, 5, "SCSI version INQUIRY reports (5: SPC-3)"),
  quirk_mode_page_vendor_specific_apple: prop(types.bool, false, "answers Apple's vendor mode page"),
  ...chsProperties,
};

export const scsiCdProperties = {
  ...scsiIdentityProperties,
  max_io_size: prop(types.uint64, 0x7fffffff, "block limits VPD: largest transfer in bytes"),
  scsi_version: prop(types.int32, 5, "SCSI version INQUIRY reports (5: SPC-3)"),
  quirk_mode_page_apple_vendor: prop(types.bool, false, "answers Apple's vendor mode page"),
  quirk_mode_sense_rom_use_dbd: prop(types.bool, false, "MODE SENSE(6) with DBD set, as old Apple ROMs need"),
  quirk_mode_page_vendor_specific_apple: prop(types.bool, false, "answers Apple's vendor-specific mode page"),
  quirk_mode_page_truncated: prop(types.bool, false, "truncates mode pages to the allocation length"),
};

/** The scsi-device properties, after each driver's own: the address, and QOM's bootindex. */
export const scsiDeviceProperties = { ...scsiAddressProperties, bootindex: bootindexProperty };

type ScsiProps = BusDeviceProps<typeof scsiDiskProperties & typeof scsiDeviceProperties> & Partial<BusDeviceProps<typeof scsiHdProperties>>;

/**
 * A disk or CD-ROM at a SCSI target and LUN (QEMU's scsi-disk-base with scsi_realize): a scsi-hd
 * needs an image, a scsi-cd may be empty. The checks are QEMU's, in its order; INQUIRY, VPD pages
 * and commands are not modelled.
 */
export abstract class ScsiDisk extends BusDevice {
  private readonly geometry: Geometry | null = null;
  private readonly realized: Record<string, unknown>;

  protected constructor(props: ScsiProps, machine: Machine, kind: "hd" | "cd") {
    super(props);
    checkBlockSizeProperties(props);
    const drive = props.drive ? machine.hostDrive(props.drive) : undefined;
    if (kind === "hd" && drive) blockSizes(props); // scsi_hd_realize checks them once before scsi_realize
    if (!drive && kind === "hd") throw new MachbusError("bad-property-value", "drive property not set");
    if (kind === "hd" && !drive?.file) throw new MachbusError("bad-property-value", "Device needs media, but drive is empty");
    const { logical } = blockSizes(props);
    if (kind === "hd") {
      this.geometry = blockGeometry({ cyls: props.cyls!, heads: props.heads!, secs: props.secs! }, machine.imageSize(props.drive), {
        cyls: 65535,
        heads: 255,
        secs: 255,
      });
    }
    this.realized = {
      logical_block_size: logical,
      physical_block_size: props.physical_block_size || SECTOR,
      discard_granularity:
        props.discard_granularity === DISCARD_UNSET ? Math.max(logical, DEFAULT_DISCARD_GRANULARITY) : props.discard_granularity,
      ver: props.ver || machine.type.machineClass.hwVersion,
      vendor: props.vendor || "QEMU",
      product: props.product || (kind === "hd" ? "QEMU HARDDISK" : "QEMU CD-ROM"),
      device_id: props.device_id || props.serial.slice(0, MAX_SERIAL_LEN_FOR_DEVID) || props.drive,
      ...this.geometry,
    };
  }

  override qtreeValues(): Record<string, unknown> {
    return this.realized;
  }
}
