import { MachbusError } from "../errors.js";
import type { PciBus } from "../pci/bus.js";
import { PCI_FUNC_MAX } from "../pci/constants.js";

/** What the allocator is asked: a device (by driver name) needs a devfn on `bus`. */
export interface SlotRequest {
  readonly bus: PciBus;
  readonly driver: string;
  readonly id: string | null;
}

/**
 * A slot-allocation policy. The machine asks it for a devfn whenever a device comes without
 * `addr=`; it is resolved through the machine's container (token SLOT_ALLOCATOR), so experiments
 * swap policies without touching the machine.
 */
export interface SlotAllocator {
  readonly name: string;
  /** Returns a devfn on request.bus, or throws a MachbusError with code "no-slot". */
  allocate(request: SlotRequest): number;
}

/** QEMU's text when nothing is left. */
export function noSlotError(driver: string): MachbusError {
  return new MachbusError("no-slot", `PCI: no slot/function available for ${driver}, all in use or reserved`);
}

/**
 * QEMU's policy: the first slot from devfn_min whose function 0 is free and not reserved. Board
 * rules (absent slots, slots dedicated to another driver) count as reserved; a dedicated slot is
 * still free for its own driver, as a board's onboard NIC needs.
 */
export class FirstFitAllocator implements SlotAllocator {
  readonly name = "first-fit";

  allocate({ bus, driver }: SlotRequest): number {
    for (let devfn = bus.devfnMin; devfn < 256; devfn += PCI_FUNC_MAX) {
      if (!bus.get(devfn) && bus.slotAllows(devfn >> 3, driver)) return devfn;
    }
    throw noSlotError(driver);
  }
}
