import { inject } from "tsyringe";
import { allocationPolicy, type PolicyParams } from "../allocation-policy.js";
import { freeSlots, noSlotError, type SlotAllocator, type SlotRequest } from "../allocator.js";
import { prop, types } from "../properties.js";
import { ALLOCATOR_PARAMS } from "../tokens.js";
import type { PciBus } from "../../pci/bus.js";

const policyParams = {
  free: prop(types.uint8, 1, "hotplug-capable slots per bus that devices present at creation may not take"),
};

/**
 * Keeps `free` hotplug-capable slots of each bus free for devices added at run time: a device the
 * machine is created with takes a slot without hotplug first, and a hotplug-capable one only
 * while more than `free` of those remain. Run-time additions (device_add) take the first fit.
 */
@allocationPolicy({
  name: "hotplug-reserve",
  description: "keeps N hotplug-capable slots per bus free for device_add (hotplug-reserve,free=N)",
  params: policyParams,
})
export class HotplugReservePolicy implements SlotAllocator {
  readonly name = "hotplug-reserve";

  constructor(@inject(ALLOCATOR_PARAMS) private readonly params: PolicyParams<typeof policyParams>) {}

  allocate({ bus, driver, hotplug }: SlotRequest): number {
    const free = freeSlots(bus, driver);
    const hotplugFree = free.filter((s) => bus.isHotplugSlot(s));
    const slot = hotplug
      ? hotplugFree[0]
      : (free.find((s) => !bus.isHotplugSlot(s)) ?? (hotplugFree.length > this.params.free ? hotplugFree[0] : undefined));
    if (slot === undefined) {
      throw noSlotError(
        driver,
        hotplug ? undefined : `hotplug-reserve keeps ${this.params.free} hotplug-capable slot(s) of bus ${bus.name} free`,
      );
    }
    return slot << 3;
  }

  slotNote(bus: PciBus, slot: number): string | undefined {
    if (this.params.free === 0) return undefined;
    // Creation takes the first fit, so the last `free` hotplug-capable slots are the ones kept.
    const kept = freeSlots(bus, "").filter((s) => bus.isHotplugSlot(s));
    return kept.slice(-this.params.free).includes(slot) ? "kept free for hotplug by hotplug-reserve" : undefined;
  }
}
