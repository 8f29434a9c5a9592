import { MachbusError } from "../errors.js";
import type { PciBus } from "../pci/bus.js";
import { PCI_FUNC_MAX } from "../pci/constants.js";
import type { PciFunction } from "../pci/function.js";

/** The default allocation policy: QEMU's first fit (FirstFitAllocator). */
export const DEFAULT_POLICY = "qemu";

/** What the allocator is asked: a device (by driver name) needs a devfn on `bus`. */
export interface SlotRequest {
  /** The bus the device asked for (`bus=`, else the root bus). */
  readonly bus: PciBus;
  readonly driver: string;
  readonly id: string | null;
  /** The new device's function, not on a bus yet: its interrupt pin, multifunction bit, BARs. */
  readonly function: PciFunction;
  /** True for `device_add` at run time, false while the machine is being created. */
  readonly hotplug: boolean;
}

/**
 * What a policy answers: a devfn on the requested bus, or a plan. A plan may put the device on
 * another bus and may first add devices (each spec with its own `addr=` and `id=`): this is how
 * auto-bridge adds a pci-bridge and places behind it. The engine checks the whole plan before it
 * changes anything, and undoes the added devices if the device itself cannot be placed.
 */
export type Placement = number | PlacementPlan;

export interface PlacementPlan {
  /** Device specs to plug first, in order (`pci-bridge,id=pci.1,chassis_nr=1,addr=1f`). */
  readonly add?: readonly string[];
  /** The bus to place the device on, by name; may be a bus that `add` creates. Default: the request's bus. */
  readonly bus?: string;
  readonly devfn: number;
}

/** A device the machine is about to be created with (what `prepare` sees). */
export interface PlannedDevice {
  readonly driver: string;
  readonly id: string | null;
  /** The bus name given with `bus=`, or null for the root bus. */
  readonly bus: string | null;
  /** The explicit `addr=`, or null when the allocator will choose. */
  readonly devfn: number | null;
}

/**
 * A slot-allocation policy. The machine asks it for a devfn whenever a device comes without
 * `addr=`; it is resolved through the machine's container (token SLOT_ALLOCATOR), so experiments
 * swap policies without touching the machine. Whatever it answers is checked by the engine
 * (src/machine/placement.ts): a devfn that does not exist, is taken, or breaks the board's or
 * the multifunction rules is refused with an error naming the policy.
 */
export interface SlotAllocator {
  /** The policy's name, as `--allocator` takes it. */
  readonly name: string;
  /** Returns a devfn on request.bus or a plan, or throws a MachbusError with code "no-slot". */
  allocate(request: SlotRequest): Placement;
  /** Called once before the machine's own devices are plugged, with all of them. */
  prepare?(devices: readonly PlannedDevice[]): void;
  /** What `machbus slots` says about a free slot this policy keeps (e.g. "kept free for hotplug"). */
  slotNote?(bus: PciBus, slot: number): string | undefined;
}

/** QEMU's text when nothing is left. */
export function noSlotError(driver: string, why?: string): MachbusError {
  return new MachbusError("no-slot", `PCI: no slot/function available for ${driver}, all in use or reserved${why ? ` (${why})` : ""}`);
}

/** Whether `slot` of `bus` can take a new device `driver` in function 0: free and allowed by the board. */
export function slotFree(bus: PciBus, slot: number, driver: string): boolean {
  return !bus.get(slot * PCI_FUNC_MAX) && bus.slotAllows(slot, driver);
}

/** The slots an automatic placement may consider on `bus`, in order: from devfn_min, free and allowed. */
export function freeSlots(bus: PciBus, driver: string): number[] {
  const out: number[] = [];
  for (let slot = bus.devfnMin >> 3; slot < 32; slot++) if (slotFree(bus, slot, driver)) out.push(slot);
  return out;
}

/**
 * QEMU's policy: the first slot from devfn_min whose function 0 is free and not reserved. Board
 * rules (absent slots, slots dedicated to another driver) count as reserved; a dedicated slot is
 * still free for its own driver, as a board's onboard NIC needs.
 */
export class FirstFitAllocator implements SlotAllocator {
  readonly name: string = "qemu";

  allocate({ bus, driver }: Pick<SlotRequest, "bus" | "driver">): number {
    for (let slot = bus.devfnMin >> 3; slot < 32; slot++) if (slotFree(bus, slot, driver)) return slot * PCI_FUNC_MAX;
    throw noSlotError(driver);
  }
}
