import type { PropertySchema, PropsOf } from "../machine/properties.js";
import { DRIVER_INFO } from "../pci/device.js";
import type { KeptState, StateDescription } from "../state/description.js";

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
  /** The device's state that snapshots carry (see keepState). */
  readonly states: KeptState[] = [];

  protected constructor(props: IsaDeviceProps) {
    this.driver = (new.target as unknown as { [DRIVER_INFO]?: { name: string } })[DRIVER_INFO]?.name ?? new.target.name;
    this.id = props.id;
    this.props = props;
  }

  /** Snapshots carry `target` as `description` says (src/state/description.ts). */
  protected keepState<T extends object>(description: StateDescription<T>, target: T): void {
    if (this.states.some((k) => k.description.name === description.name)) {
      throw new Error(`${this.driver}: a state called '${description.name}' is already kept`);
    }
    if (this.states.length === 31) throw new Error(`${this.driver}: keeps more than 31 states`);
    this.states.push({ description, target });
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
