import { inject } from "tsyringe";
import { allocationPolicy } from "../allocation-policy.js";
import { FirstFitAllocator, freeSlots, noSlotError, type PlacementPlan, type SlotAllocator, type SlotRequest } from "../allocator.js";
import type { Machine } from "../machine.js";
import { MACHINE } from "../tokens.js";
import type { PciBus } from "../../pci/bus.js";

const ROOT_PORT = "pcie-root-port";
/** Devices that are PCIe hierarchy themselves: placed where asked, first fit, as libvirt places them. */
const HIERARCHY = new Set([ROOT_PORT, "ioh3420", "pcie-pci-bridge", "pci-bridge"]);
/** libvirt numbers its root ports' `port` from 0x10. */
const FIRST_PORT = 0x10;

/**
 * libvirt's way on q35: every endpoint asked for on the PCI Express root bus gets a root port of
 * its own (`pcie-root-port,id=pci.N,chassis=N,port=0x10+N-1` at the first free slot of the root
 * bus) and goes at slot 0 behind it, the only slot a PCIe port has. On a port's bus the device
 * takes slot 0 or is refused; ports, bridges and buses other than a PCIe root bus get QEMU's first fit.
 * The ports are ordinary devices marked as added by this policy, so a dump keeps every address.
 */
@allocationPolicy({
  name: "auto-root-port",
  description: "libvirt's way on q35: a pcie-root-port per device, the device at its slot 0",
  params: {},
})
export class AutoRootPortPolicy implements SlotAllocator {
  readonly name = "auto-root-port";
  private readonly firstFit = new FirstFitAllocator();

  constructor(@inject(MACHINE) private readonly machine: Machine) {}

  allocate(request: SlotRequest): number | PlacementPlan {
    const { bus, driver } = request;
    if (isPortBus(bus)) {
      const holder = bus.get(0);
      if (holder) {
        throw noSlotError(driver, `auto-root-port: ${bus.name} is a PCIe port, whose one slot holds ${holder.owner.driver}`);
      }
      return 0;
    }
    if (!(bus.express && bus.isRoot) || HIERARCHY.has(driver)) return this.firstFit.allocate(request);
    const slot = freeSlots(bus, ROOT_PORT)[0];
    if (slot === undefined) throw noSlotError(driver, `auto-root-port found no free slot for a ${ROOT_PORT} on ${bus.name}`);
    const n = this.newNumber();
    const port = `${ROOT_PORT},id=pci.${n},chassis=${n},port=0x${(FIRST_PORT + n - 1).toString(16)},bus=${bus.name},addr=${slot.toString(16)}`;
    return { add: [port], bus: `pci.${n}`, devfn: 0 };
  }

  slotNote(bus: PciBus, slot: number): string | undefined {
    return isPortBus(bus) && slot > 0 ? "not used by auto-root-port (a PCIe port has one slot)" : undefined;
  }

  /** The first N free both as a bus name pci.N and as a chassis number. */
  private newNumber(): number {
    const taken = new Set([...this.machine.buses().map((b) => b.name), ...this.machine.devices().map((d) => d.device.id)]);
    const chassis = new Set(this.machine.devices().map((d) => d.props.chassis));
    let n = 1;
    while (taken.has(`pci.${n}`) || chassis.has(n)) n++;
    return n;
  }
}

/** A PCIe port's secondary bus (root or downstream port): one slot. */
function isPortBus(bus: PciBus): boolean {
  return bus.express && !bus.isRoot && bus.hotplugHandler !== null;
}
