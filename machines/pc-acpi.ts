import { buildPcAcpiTables, type AcpiBus, type AcpiFiles, type AcpiFunction } from "../src/acpi/pc-tables.js";
import type { Machine } from "../src/machine/machine.js";
import type { PciBus } from "../src/pci/bus.js";
import type { PciBridgeDevice } from "../src/pci/bridge.js";
import { acpiHotplugBuses } from "../devices/piix4-pm.js";

const PIIX4_PM_DEVFN = 0x0b; // 01.3
const PIIX4_PMBASE = 0x40;
const CLASS_ISA_BRIDGE = 0x0601;
const PCI_HOLE64_SIZE = 2 ** 31; // i440FX-pcihost's pci-hole64-size

/**
 * The pc board's ACPI tables from the machine as it is now (QEMU builds them when the firmware
 * first reads them): RAM layout, PIIX4's PM base as the firmware set it, COM1, and every bus
 * with ACPI hotplug and its BSEL (acpiHotplugBuses).
 */
export function pcAcpiTables(machine: Machine): AcpiFiles {
  const bsels = new Map(acpiHotplugBuses(machine.rootBus).map((bus, bsel) => [bus, bsel]));
  const placed = new Map(machine.devices().map((p) => [p.device as unknown, p]));
  // Slot by slot, as QEMU's DSDT lists them; BSELs in its bus-list order, as PIIX4 PM signals them.
  // A bridge is described (nested, with PCNT calling its bus's) exactly when its bus has a BSEL.
  const describe = (bus: PciBus): AcpiBus => {
    const bsel = bsels.get(bus)!;
    const functions = new Map<number, AcpiFunction>();
    bus.functions.forEach((fn, devfn) => {
      if (!fn) return;
      const device = placed.get(fn.owner);
      const bridge = fn.owner as Partial<PciBridgeDevice>;
      const described = bridge.hasSecondaryBus === true && bsels.has(bridge.secondaryBus!);
      functions.set(devfn, {
        hotpluggable: device?.info.hotpluggable ?? false,
        isaBridge: fn.space.get16(0x0a) === CLASS_ISA_BRIDGE,
        bridge: described ? describe(bridge.secondaryBus!) : null,
      });
    });
    const bridgeOrder = bus.children.filter((child) => bsels.has(child)).map((child) => child.parentBridge!.devfn);
    return { bsel, functions, bridgeOrder };
  };
  return buildPcAcpiTables({
    below4g: machine.ramLayout.below4g,
    above4g: machine.ramLayout.above4g,
    pciHole64Size: PCI_HOLE64_SIZE,
    // read from the function, not by a config cycle, which would leave the guest's 0xcf8 latch changed
    pmBase: (machine.rootBus.functions[PIIX4_PM_DEVFN]?.space.get32(PIIX4_PMBASE) ?? 0) & 0xffc0,
    serial: machine.serial,
    hpet: true,
    rootBus: describe(machine.rootBus),
  });
}
