import { MachbusError } from "../errors.js";
import type { Machine } from "../machine/machine.js";
import { bootindexProperty, prop, types } from "../machine/properties.js";
import {
  DISCARD_UNSET,
  SECTOR,
  autoTranslation,
  blockGeometry,
  blockProperties,
  blockSizes,
  checkBlockSizeProperties,
  chsProperties,
  type Geometry,
} from "./block-conf.js";
import { BusDevice, type BusDeviceProps } from "./bus-device.js";
import { ideUnitProperty } from "./ide-bus.js";

/** QEMU's DEFINE_IDE_DEV_PROPERTIES after the block ones: firmware revision, WWN, serial, model. */
export const ideDriveProperties = {
  ...blockProperties,
  ver: prop(types.str, "", "firmware revision IDENTIFY reports; empty: the machine type's hardware version"),
  wwn: prop(types.uint64, 0, "world wide name (IDENTIFY words 108-111)"),
  serial: prop(types.str, "", "serial number; empty: QM and the drive's number on the controller (QM00001 for the primary master)"),
  model: prop(types.str, "", "model name; empty: QEMU HARDDISK or QEMU DVD-ROM"),
};

/** What ide-hd adds: the geometry, the BIOS's translation of it and the rotation rate. */
export const ideDiskProperties = {
  ...chsProperties,
  "bios-chs-trans": prop(
    types.enumOf(["auto", "none", "lba", "large", "rechs"] as const),
    "auto",
    "Logical CHS translation algorithm, auto/none/lba/large/rechs",
  ),
  rotation_rate: prop(types.uint16, 0, "IDENTIFY word 217: 0 unreported, 1 solid state, else rpm"),
};

/** The ide-device properties, after each driver's own: the unit, and QOM's bootindex. */
export const ideDeviceProperties = { unit: ideUnitProperty, bootindex: bootindexProperty };

type IdeProps = BusDeviceProps<typeof ideDriveProperties & typeof ideDeviceProperties> & Partial<BusDeviceProps<typeof ideDiskProperties>>;

/**
 * A drive on an IDE channel (QEMU's ide-device with ide_dev_initfn): an ide-hd needs an image,
 * an ide-cd may be empty. The checks are QEMU's, in its order; the IDENTIFY data is not modelled.
 */
export abstract class IdeDevice extends BusDevice {
  private readonly geometry: (Geometry & { trans: string }) | null;
  private readonly hwVersion: string;

  protected constructor(props: IdeProps, machine: Machine, kind: "hd" | "cd") {
    super(props);
    checkBlockSizeProperties(props);
    const drive = props.drive ? machine.hostDrive(props.drive) : undefined;
    if (!drive && kind === "hd") throw new MachbusError("bad-property-value", "No drive specified");
    const discard = props.discard_granularity === DISCARD_UNSET ? SECTOR : props.discard_granularity;
    if (discard && discard !== SECTOR) throw new MachbusError("bad-property-value", "discard_granularity must be 512 for ide");
    const { logical } = blockSizes({ ...props, discard_granularity: discard });
    if (logical !== SECTOR) throw new MachbusError("bad-property-value", "logical_block_size must be 512 for IDE");
    this.geometry = null;
    if (kind === "hd") {
      const g = blockGeometry({ cyls: props.cyls!, heads: props.heads!, secs: props.secs! }, machine.imageSize(props.drive), {
        cyls: 65535,
        heads: 16,
        secs: 255,
      });
      const trans = props["bios-chs-trans"] === "auto" ? autoTranslation(g) : props["bios-chs-trans"]!;
      this.geometry = { ...g, trans };
      if (!drive?.file) throw new MachbusError("bad-property-value", "Device needs media, but drive is empty");
      if (drive.readonly) throw new MachbusError("bad-property-value", "Block node is read-only");
    }
    this.hwVersion = machine.type.machineClass.hwVersion;
  }

  override qtreeValues(): Record<string, unknown> {
    const p = this.props as IdeProps;
    // QEMU numbers the drives of each controller as it creates its channels: two per channel, from 1.
    const number = 2 * (this.bus?.ordinal ?? 0) + p.unit + 1;
    const values: Record<string, unknown> = {
      logical_block_size: p.logical_block_size || SECTOR,
      physical_block_size: p.physical_block_size || SECTOR,
      discard_granularity: p.discard_granularity === DISCARD_UNSET ? SECTOR : p.discard_granularity,
      ver: p.ver || this.hwVersion,
      serial: p.serial || `QM${String(number).padStart(5, "0")}`,
    };
    if (this.geometry) {
      const { cyls, heads, secs, trans } = this.geometry;
      Object.assign(values, { cyls, heads, secs, "bios-chs-trans": trans });
    }
    return values;
  }
}
