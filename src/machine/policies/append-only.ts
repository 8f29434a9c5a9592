import { allocationPolicy } from "../allocation-policy.js";
import { freeSlots, noSlotError, type SlotAllocator, type SlotRequest } from "../allocator.js";
import type { PciBus } from "../../pci/bus.js";

/**
 * A new device goes above every device already on the bus, never into a gap a removed device
 * left: the order of slots is the order devices came in, as some guests' device naming needs.
 */
@allocationPolicy({
  name: "append-only",
  description: "a new device never takes a slot below an existing one (gaps left by removals stay empty)",
  params: {},
})
export class AppendOnlyPolicy implements SlotAllocator {
  readonly name = "append-only";

  allocate({ bus, driver }: SlotRequest): number {
    const top = highestSlot(bus);
    const slot = freeSlots(bus, driver).find((s) => s > top);
    if (slot === undefined) throw noSlotError(driver, `append-only: no free slot above ${hex(top)} on bus ${bus.name}`);
    return slot << 3;
  }

  slotNote(bus: PciBus, slot: number): string | undefined {
    const top = highestSlot(bus);
    return slot < top ? `append-only places new devices above slot ${hex(top)}` : undefined;
  }
}

/** The highest slot holding any function, or -1 on an empty bus. */
function highestSlot(bus: PciBus): number {
  let top = -1;
  for (const fn of bus) top = Math.max(top, fn.devfn >> 3);
  return top;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
