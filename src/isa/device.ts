import type { PropertySchema, PropsOf } from "../machine/properties.js";
import { DRIVER_INFO } from "../pci/device.js";
import type { StatePart } from "../state/state-part.js";

/** What an ISA device's constructor receives: its driver's resolved properties plus the qdev id. */
export type IsaDeviceProps<S extends PropertySchema = Record<never, never>> = PropsOf<S> & { id: string | null };

/**
 * Base class of devices on the board's ISA bus (QEMU's ISADevice): fixed I/O ports and no
 * config space, e.g. the debug console or fw_cfg. Like PCI models they are built by the
 * machine's DI container; they claim their ports in `plugged()` and give them back in `unplugging()`.
 */
export abstract class IsaDevice {
  readonly id: string | null;
  readonly driver: string;
  readonly props: IsaDeviceProps;
  /** The device's state that snapshots carry. */
  readonly stateParts: StatePart[] = [];

  protected constructor(props: IsaDeviceProps) {
    this.driver = (new.target as unknown as { [DRIVER_INFO]?: { name: string } })[DRIVER_INFO]?.name ?? new.target.name;
    this.id = props.id;
    this.props = props;
  }

  /** Maps the device's ports and memory into the machine. */
  abstract plugged(): void;

  /** Unmaps what `plugged` mapped. */
  abstract unplugging(): void;

  /** After a snapshot replaced the device's state: re-derive what depends on it (port mappings). */
  stateLoaded(): void {}

  /** System reset. */
  reset(): void {}
}
