import { inject } from "tsyringe";
import { allocationPolicy } from "../allocation-policy.js";
import { freeSlots, noSlotError, type SlotAllocator, type SlotRequest } from "../allocator.js";
import type { Machine } from "../machine.js";
import { MACHINE } from "../tokens.js";
import type { PciBus } from "../../pci/bus.js";
import { PCI_INTERRUPT_PIN } from "../../pci/constants.js";
import type { PciFunction } from "../../pci/function.js";

/**
 * Spreads INTx over the board's interrupt links (PIRQ A-D on pc): a device with an interrupt pin
 * goes to the free slot whose link (after the board's mapping and every bridge's swizzle) has
 * the fewest functions on it, the lowest such slot on a tie. Devices without a pin: first fit.
 */
@allocationPolicy({
  name: "irq-balance",
  description: "spreads INTx over the board's interrupt links (PIRQ A-D): the free slot whose link is least used",
  params: {},
})
export class IrqBalancePolicy implements SlotAllocator {
  readonly name = "irq-balance";

  constructor(@inject(MACHINE) private readonly machine: Machine) {}

  allocate({ bus, driver, function: fn }: SlotRequest): number {
    const free = freeSlots(bus, driver);
    if (free.length === 0) throw noSlotError(driver);
    const pin = fn.space.config[PCI_INTERRUPT_PIN]!;
    if (pin === 0) return free[0]! << 3;
    const load = linkLoad(this.machine);
    let best = free[0]!;
    let bestLoad = Infinity;
    for (const slot of free) {
      const l = load.get(rootLink(bus, slot << 3, pin - 1)) ?? 0;
      if (l < bestLoad) [best, bestLoad] = [slot, l];
    }
    return best << 3;
  }
}

/** How many functions drive each interrupt link of the root bus. */
export function linkLoad(machine: Machine): Map<number, number> {
  const load = new Map<number, number>();
  for (const bus of machine.buses()) {
    for (const fn of bus) {
      const pin = fn.space.config[PCI_INTERRUPT_PIN]!;
      if (pin === 0) continue;
      const link = rootLink(bus, fn.devfn, pin - 1);
      load.set(link, (load.get(link) ?? 0) + 1);
    }
  }
  return load;
}

/**
 * The root-bus link a function at `devfn` of `bus` would drive with `pin` (0 = INTA): the bus's
 * mapping (the board's at the root, the swizzle behind a bridge), then each bridge's up to the root.
 */
export function rootLink(bus: PciBus, devfn: number, pin: number): number {
  // The mappings read only the devfn of the function they are given.
  let link = bus.mapIrq({ devfn } as PciFunction, pin);
  for (let b = bus; b.parentBridge;) {
    const bridge = b.parentBridge;
    b = bridge.bus!;
    link = b.mapIrq(bridge, link);
  }
  return link;
}
