import type { PropertySchema, PropsOf } from "../machine/properties.js";
import { DRIVER_INFO } from "../pci/device.js";
import type { KeptState } from "../state/description.js";
import type { ChildBus } from "./child-bus.js";

/** What a child-bus device's constructor receives: its resolved properties (address filled in) plus the qdev id. */
export type BusDeviceProps<S extends PropertySchema = Record<never, never>> = PropsOf<S> & { id: string | null };

/**
 * Base class of devices on a controller's child bus (QEMU's IDEDevice, SCSIDevice): a drive at
 * an IDE unit or a SCSI target and LUN. Guest-visible through the controller only; machbus
 * models their identity and properties, not their data (no disk is read), so they keep no state.
 */
export abstract class BusDevice {
  readonly id: string | null;
  readonly driver: string;
  /** The resolved properties, its address on the bus included. */
  readonly props: Readonly<Record<string, unknown>> & { readonly id: string | null };
  /** Nothing to save: the disk contents are not modelled (snapshots have no section for drives). */
  readonly states: readonly KeptState[] = [];
  /** The bus the device sits on, set when it is plugged. */
  bus: ChildBus | null = null;

  protected constructor(props: BusDeviceProps & Record<string, unknown>) {
    this.driver = (new.target as unknown as { [DRIVER_INFO]?: { name: string } })[DRIVER_INFO]?.name ?? new.target.name;
    this.id = props.id;
    this.props = props;
  }

  /** "ide.0 unit 1", "s.0 scsi-id 3 lun 0": the bus and the address on it. */
  get address(): string {
    const bus = this.bus;
    if (!bus) return "(not plugged)";
    return `${bus.name} ${bus.spec.addressing?.describe(this.props) ?? ""}`.trimEnd();
  }

  /**
   * Values the device settled when it was realized, where `info qtree` shows those rather than
   * what was asked (QEMU writes them back: geometry guessed from the size, block sizes, serial).
   */
  qtreeValues(): Readonly<Record<string, unknown>> {
    return {};
  }

  plugged(): void {}

  unplugging(): void {}

  stateLoaded(): void {}

  reset(): void {}
}
