import { MachbusError } from "../errors.js";
import { prop, types } from "../machine/properties.js";
import type { ChildAddressing, ChildBus, ChildBusSpec } from "./child-bus.js";
import { asInt32 } from "./ide-bus.js";

/** QEMU's unset target or LUN (-1 in a uint32 property): the bus picks the first free one. */
export const SCSI_UNSET = 0xffffffff;

/** The address properties of SCSI devices (QEMU's scsi-device `channel`, `scsi-id`, `lun`), in QEMU's order. */
export const scsiAddressProperties = {
  channel: prop(types.uint32, 0, "bus channel (0: both controllers have one)"),
  "scsi-id": prop(types.uint32, SCSI_UNSET, "target; unset: the first free one"),
  lun: prop(types.uint32, SCSI_UNSET, "logical unit; unset: 0 when the bus picks the target, else the first free one"),
};

/** What a SCSI host adapter offers (QEMU's SCSIBusInfo). */
export interface ScsiLimits {
  readonly maxChannel: number;
  readonly maxTarget: number;
  readonly maxLun: number;
}

/**
 * A SCSI bus's addresses (QEMU's scsi_bus_check_address, then scsi_qdev_realize): the range of
 * channel, target and LUN the adapter takes, a LUN used once per target, and QEMU's choice for
 * unset parts: the first free target (LUN 0 unless given), or the first free LUN of a given target.
 */
export function scsiAddressing(limits: ScsiLimits): ChildAddressing {
  return {
    properties: Object.keys(scsiAddressProperties),
    assign(bus: ChildBus, props: Record<string, unknown>): void {
      const channel = props.channel as number;
      let target = props["scsi-id"] as number;
      let lun = props.lun as number;
      const holder = (t: number, l: number) =>
        bus.children.find((d) => d.props.channel === channel && d.props["scsi-id"] === t && d.props.lun === l);
      if (channel > limits.maxChannel) throw new MachbusError("bad-address", `bad scsi channel id: ${asInt32(channel)}`);
      if (target !== SCSI_UNSET && target > limits.maxTarget) {
        throw new MachbusError("bad-address", `bad scsi device id: ${asInt32(target)}`);
      }
      if (lun !== SCSI_UNSET && lun > limits.maxLun) throw new MachbusError("bad-address", `bad scsi device lun: ${asInt32(lun)}`);
      if (target !== SCSI_UNSET && lun !== SCSI_UNSET) {
        const user = holder(target, lun);
        // QEMU prints the holder's qdev id with %s: glibc's "(null)" when it has none.
        if (user) throw new MachbusError("unit-unavailable", `lun already used by '${user.id ?? "(null)"}'`);
      } else if (target === SCSI_UNSET) {
        if (lun === SCSI_UNSET) lun = 0;
        target = 0;
        while (holder(target, lun) && target < limits.maxTarget) target++;
        if (holder(target, lun)) throw new MachbusError("unit-unavailable", "no free target");
      } else {
        lun = 0;
        while (holder(target, lun) && lun < limits.maxLun) lun++;
        if (holder(target, lun)) throw new MachbusError("unit-unavailable", "no free lun");
      }
      props["scsi-id"] = target;
      props.lun = lun;
    },
    describe: (props) =>
      `${props.channel ? `channel ${String(props.channel)} ` : ""}scsi-id ${String(props["scsi-id"])} lun ${String(props.lun)}`,
  };
}

/** A SCSI bus of an adapter with these limits; SCSI devices may come and go at run time, as in QEMU. */
export function scsiBus(limits: ScsiLimits): ChildBusSpec {
  return { type: "SCSI", kind: "scsi", addressing: scsiAddressing(limits), hotpluggable: true };
}
