import type { InjectionToken } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../events.js";
import type { AddressSpace } from "../memory/address-space.js";
import type { PciBus } from "../pci/bus.js";
import type { PciHost } from "../pci/host.js";
import type { SlotAllocator } from "./allocator.js";
import type { LinuxBoot } from "./linux-boot.js";
import type { MacAddresses } from "./mac-addresses.js";
import type { Machine } from "./machine.js";
import type { MachineClassFields, RamLayout } from "./machine-type.js";

/**
 * The machine's services, injected by these tokens into device constructors. Each machine has
 * its own child container, so two machines never share one of these.
 */
export const EVENTS: InjectionToken<EventEmitter<MachineEvents>> = Symbol("machbus.events");
export const IO_SPACE: InjectionToken<AddressSpace> = Symbol("machbus.ioSpace");
export const MEMORY_SPACE: InjectionToken<AddressSpace> = Symbol("machbus.memorySpace");
export const ROOT_BUS: InjectionToken<PciBus> = Symbol("machbus.rootBus");
export const PCI_HOST: InjectionToken<PciHost> = Symbol("machbus.pciHost");
export const SLOT_ALLOCATOR: InjectionToken<SlotAllocator> = Symbol("machbus.slotAllocator");
/** The resolved parameters of the allocation policy being constructed (`hotplug-reserve,free=4`). */
export const ALLOCATOR_PARAMS: InjectionToken<unknown> = Symbol("machbus.allocatorParams");
/** Guest RAM size in bytes (the chipset reports it; the embedder provides the RAM itself). */
export const RAM_SIZE: InjectionToken<number> = Symbol("machbus.ramSize");
/** Where the board put that RAM: below and above 4 GiB (what fw_cfg's e820 table says). */
export const RAM_LAYOUT: InjectionToken<RamLayout> = Symbol("machbus.ramLayout");
/** The machine type's class fields (what firmware is told, per version). */
export const MACHINE_CLASS: InjectionToken<MachineClassFields> = Symbol("machbus.machineClass");
/**
 * The kernel, initrd and command line fw_cfg hands to firmware (QEMU's -kernel/-initrd/-append);
 * `boot` is null without one (wrapped: tsyringe takes a null instance for no registration).
 */
export const LINUX_BOOT: InjectionToken<{ readonly boot: LinuxBoot | null }> = Symbol("machbus.linuxBoot");
/** The machine's MAC address book: NICs without `mac=` get QEMU's 52:54:00:12:34:56, :57, ... */
export const MAC_ADDRESSES: InjectionToken<MacAddresses> = Symbol("machbus.macAddresses");
/** Time as the host sees it, for devices that count (the ACPI PM timer). */
export interface Clock {
  /** Nanoseconds since an arbitrary start; must not go backwards. */
  nowNs(): number;
}
export const CLOCK: InjectionToken<Clock> = Symbol("machbus.clock");
/**
 * The bus the PCI device being constructed will be plugged into: what QEMU devices look at while
 * they realize (an endpoint on a PCI Express root bus is a root complex integrated endpoint;
 * virtio is PCI Express only below a PCIe port).
 */
export const PLUG_BUS: InjectionToken<PciBus> = Symbol("machbus.plugBus");
/** The resolved properties of the device being constructed (registered in the machine's device scope while it is). */
export const DEVICE_PROPS: InjectionToken<unknown> = Symbol("machbus.deviceProps");
/** The machine itself, for devices that need the whole of it (rare: prefer the narrower tokens). */
export const MACHINE: InjectionToken<Machine> = Symbol("machbus.machine");
