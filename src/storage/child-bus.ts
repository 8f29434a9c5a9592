import type { MachineDevice } from "../machine/drivers.js";
import type { BusDevice } from "./bus-device.js";

/** The kinds of child bus devices plug into (a driver's `bus`): IDE channels and SCSI buses. */
export type ChildBusKind = "ide" | "scsi";

/**
 * How devices on a child bus are addressed, parsed by the bus: QEMU's check_address for the bus
 * plus the choice its devices make when realized (an IDE unit, a SCSI target and LUN). A device
 * only declares the properties (`unit`; `channel`, `scsi-id`, `lun`).
 */
export interface ChildAddressing {
  /** The device properties that hold the address, in QEMU's order. */
  readonly properties: readonly string[];
  /**
   * Checks the requested address against the devices already on `bus` and fills in what QEMU
   * chooses for unset parts, writing the result into `props`. Throws QEMU's error (and writes
   * nothing) when the address is taken or out of range.
   */
  assign(bus: ChildBus, props: Record<string, unknown>): void;
  /** Where a device sits on the bus, for messages: "unit 1", "scsi-id 3 lun 0". */
  describe(props: Readonly<Record<string, unknown>>): string;
}

/** A child bus as a controller model declares it (its driver's `buses`). */
export interface ChildBusSpec {
  /** QEMU's bus type as `info qtree` prints it ("IDE", "SCSI", "HDA", "usb-bus"); lower-cased it names anonymous buses. */
  readonly type: string;
  /** Which devices plug in (with `addressing`); absent on buses machbus models no device for (HDA codecs, USB). */
  readonly kind?: ChildBusKind;
  readonly addressing?: ChildAddressing;
  /** Devices may be added and removed at run time (SCSI buses; IDE channels may not). */
  readonly hotpluggable?: boolean;
  /** The device a virtio proxy puts between itself and the bus (`virtio-scsi-device`): where info qtree shows the bus. */
  readonly below?: "virtio-backend";
}

/**
 * A bus below a controller (QEMU's BusState under a device): an IDE channel, a SCSI bus, or a
 * bus no device of machbus plugs into. Named as QEMU names it: `<controller id>.<n>` when the
 * controller has an id, else the lower-cased type and a per-type counter (`ide.0`, `scsi.1`).
 */
export class ChildBus {
  /** Devices on the bus, in the order they were plugged. */
  readonly children: BusDevice[] = [];

  constructor(
    readonly name: string,
    readonly spec: ChildBusSpec,
    /** The controller the bus belongs to. */
    readonly owner: MachineDevice,
    /** Buses of this type the machine made before this one: IDE drives number their serials with it. */
    readonly ordinal: number,
  ) {}

  get type(): string {
    return this.spec.type;
  }

  get hotpluggable(): boolean {
    return this.spec.hotpluggable ?? false;
  }
}
