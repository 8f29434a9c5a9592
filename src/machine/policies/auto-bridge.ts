import { inject } from "tsyringe";
import { allocationPolicy } from "../allocation-policy.js";
import { freeSlots, noSlotError, type PlacementPlan, type SlotAllocator, type SlotRequest } from "../allocator.js";
import type { Machine } from "../machine.js";
import { MACHINE } from "../tokens.js";
import type { PciBus } from "../../pci/bus.js";

const BRIDGE = "pci-bridge";

/**
 * libvirt's behaviour on pc: devices fill the requested bus, and when a bus is down to its last
 * free slot that slot gets a new pci-bridge and the device goes behind it. Buses behind bridges
 * are used from slot 1, as libvirt does (QEMU's SHPC cannot hot-plug slot 0). The bridges are
 * ordinary devices (id pci.N, the first free N; chassis_nr the first unused), marked as added by
 * this policy, so a dump records them and a reload keeps every address.
 */
@allocationPolicy({
  name: "auto-bridge",
  description: "libvirt's way: fills the bus, then adds a pci-bridge in its last free slot and places behind it",
  params: {},
})
export class AutoBridgePolicy implements SlotAllocator {
  readonly name = "auto-bridge";

  constructor(@inject(MACHINE) private readonly machine: Machine) {}

  allocate({ bus, driver, hotplug }: SlotRequest): number | PlacementPlan {
    const candidates = [...subtree(bus)].map((b) => ({ bus: b, free: usableSlots(b, driver, hotplug) }));
    const roomy = candidates.find((c) => c.free.length >= 2);
    if (roomy) return { bus: roomy.bus.name, devfn: roomy.free[0]! << 3 };
    const last = candidates.find((c) => c.free.length === 1 && usableSlots(c.bus, BRIDGE, hotplug).includes(c.free[0]!));
    if (!last) throw noSlotError(driver, `auto-bridge found no free slot for a ${BRIDGE} below bus ${bus.name}`);
    const id = this.newBusName();
    const bridge = `${BRIDGE},id=${id},chassis_nr=${this.newChassis()},bus=${last.bus.name},addr=${hex(last.free[0]!)}`;
    return { add: [bridge], bus: id, devfn: 1 << 3 };
  }

  slotNote(bus: PciBus, slot: number): string | undefined {
    if (slot === 0 && bus.parentBridge?.owner.driver === BRIDGE) return "not used by auto-bridge (slot 0 behind a pci-bridge)";
    const free = usableSlots(bus, BRIDGE, false);
    return free.length === 1 && free[0] === slot ? `kept by auto-bridge for a ${BRIDGE}` : undefined;
  }

  private newBusName(): string {
    const taken = new Set([...this.machine.buses().map((b) => b.name), ...this.machine.devices().map((d) => d.device.id)]);
    let n = 1;
    while (taken.has(`pci.${n}`)) n++;
    return `pci.${n}`;
  }

  private newChassis(): number {
    const used = new Set(this.machine.devices().map((d) => d.props.chassis_nr));
    let n = 1;
    while (used.has(n)) n++;
    return n;
  }
}

/** Slots automatic placement may use on `bus`: slot 1 up behind a pci-bridge, hotplug-capable ones for device_add. */
function usableSlots(bus: PciBus, driver: string, hotplug: boolean): number[] {
  const behindBridge = bus.parentBridge?.owner.driver === BRIDGE;
  return freeSlots(bus, driver).filter((s) => (!behindBridge || s >= 1) && (!hotplug || bus.isHotplugSlot(s)));
}

/** `bus` and the buses below it, depth first, bridges in slot order. */
function* subtree(bus: PciBus): IterableIterator<PciBus> {
  yield bus;
  const children = [...bus.children].sort((a, b) => a.parentBridge!.devfn - b.parentBridge!.devfn);
  for (const child of children) yield* subtree(child);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
