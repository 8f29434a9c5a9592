import { MachbusError } from "../errors.js";
import { prop, types } from "../machine/properties.js";
import type { ChildAddressing, ChildBus, ChildBusSpec } from "./child-bus.js";

/** QEMU's unset unit (-1 in a uint32 property): the bus picks master, else slave. */
export const UNIT_UNSET = 0xffffffff;

/** The address property of IDE devices (QEMU's ide-device `unit`). */
export const ideUnitProperty = prop(types.uint32, UNIT_UNSET, "0 master, 1 slave; unset: the free one, master first");

/** A uint32 as C's %d prints it. */
export const asInt32 = (v: number): number => v | 0;

/**
 * An IDE channel's units (QEMU's ide_qdev_realize): master 0 and slave 1. An unset unit is the
 * master, or the slave when the master is taken (even if the slave is taken too: then it is in use).
 */
export function ideAddressing(maxUnits: number): ChildAddressing {
  return {
    properties: ["unit"],
    assign(bus: ChildBus, props: Record<string, unknown>): void {
      const taken = (unit: number): boolean => bus.children.some((d) => d.props.unit === unit);
      let unit = props.unit as number;
      if (unit === UNIT_UNSET) unit = taken(0) ? 1 : 0;
      if (unit >= maxUnits) {
        throw new MachbusError("bad-address", `Can't create IDE unit ${asInt32(unit)}, bus supports only ${maxUnits} units`);
      }
      if (taken(unit)) throw new MachbusError("unit-unavailable", `IDE unit ${unit} is in use`);
      props.unit = unit;
    },
    describe: (props) => `unit ${String(props.unit)}`,
  };
}

/** An IDE channel of a two-drive controller (PIIX3's primary and secondary): not hot-pluggable, as in QEMU. */
export const ideChannel: ChildBusSpec = { type: "IDE", kind: "ide", addressing: ideAddressing(2) };
