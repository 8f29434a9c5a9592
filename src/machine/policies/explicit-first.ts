import { allocationPolicy } from "../allocation-policy.js";
import { freeSlots, noSlotError, type PlannedDevice, type SlotAllocator, type SlotRequest } from "../allocator.js";
import type { PciBus } from "../../pci/bus.js";

const ROOT = Symbol("root bus");

/**
 * First fit, but every slot a device of the machine names with `addr=` is kept for it from the
 * start: an automatic device earlier on the command line no longer takes a slot an explicit one
 * later on the line needs (QEMU then fails with "slot N function 0 not available").
 */
@allocationPolicy({
  name: "explicit-first",
  description: "reserves every explicit addr= of the machine's devices before placing automatic ones",
  params: {},
})
export class ExplicitFirstPolicy implements SlotAllocator {
  readonly name = "explicit-first";
  /** Bus (by name, or ROOT for devices without bus=) -> slots an explicit device will take. */
  private readonly reserved = new Map<string | typeof ROOT, Set<number>>();

  prepare(devices: readonly PlannedDevice[]): void {
    for (const d of devices) {
      if (d.devfn === null) continue;
      const key = d.bus ?? ROOT;
      let slots = this.reserved.get(key);
      if (!slots) this.reserved.set(key, (slots = new Set()));
      slots.add(d.devfn >> 3);
    }
  }

  allocate({ bus, driver }: SlotRequest): number {
    const kept = this.keptSlots(bus);
    const free = freeSlots(bus, driver);
    const slot = free.find((s) => !kept.has(s));
    if (slot === undefined) {
      throw noSlotError(
        driver,
        kept.size ? `explicit-first keeps slot ${[...kept].map(hex).join(", ")} for devices given addr=` : undefined,
      );
    }
    return slot << 3;
  }

  slotNote(bus: PciBus, slot: number): string | undefined {
    return this.keptSlots(bus).has(slot) ? "kept by explicit-first for a device given addr=" : undefined;
  }

  /** Reserved slots of `bus` not yet taken; a slot is released once its explicit device has come. */
  private keptSlots(bus: PciBus): Set<number> {
    const out = new Set<number>();
    const keys: (string | typeof ROOT)[] = bus.isRoot ? [ROOT, bus.name] : [bus.name];
    for (const key of keys) {
      const slots = this.reserved.get(key);
      if (!slots) continue;
      for (const s of [...slots]) {
        if (bus.get(s << 3)) slots.delete(s);
        else out.add(s);
      }
    }
    return out;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
