import { inject } from "tsyringe";
import type { Machine } from "../src/machine/machine.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, MACHINE, PLUG_BUS } from "../src/machine/tokens.js";
import { NO_RESERVE_HINT } from "../src/pci/bridge.js";
import type { PciBus } from "../src/pci/bus.js";
import type { DeviceProps } from "../src/pci/device.js";
import { Msix } from "../src/pci/msix.js";
import { PCIE_LINK_SPEED, type PcieLinkWidth } from "../src/pci/pcie.js";
import { PcieRootPortDevice, pcieRootPortProperties } from "../src/pci/pcie-port.js";

const properties = {
  ...pcieRootPortProperties,
  "x-migrate-msix": prop(types.bool, true, "migrates the MSI-X state (off on pc-q35-2.8 and older)", { guestVisible: false }),
  "x-speed": prop(types.enumOf(["2_5", "5", "8", "16"] as const), "16", "link speed the port announces, GT/s"),
  "x-width": prop(types.enumOf(["1", "2", "4", "8", "12", "16", "32"] as const), "32", "link width the port announces, lanes"),
};

/** The I/O window firmware is asked to keep for a port without native hotplug (QEMU's GEN_PCIE_ROOT_DEFAULT_IO_RANGE). */
const DEFAULT_IO_RESERVE = 0x1000n;

/**
 * QEMU's generic PCI Express root port "pcie-root-port" (Red Hat 1b36:000c): subsystem ID at
 * 0x40, one MSI-X vector in its own 4 KiB BAR 0 (0x48), the PCIe capability at 0x54 (16 GT/s x32
 * from QEMU 4.0), AER at 0x100 and ACS at 0x148. Where ICH9 hides native hotplug (pc-q35-6.1)
 * it also asks firmware, through Red Hat's resource-reserve capability, to keep 4 KiB of I/O.
 */
@pciDriver({
  name: "pcie-root-port",
  description: "PCI Express Root Port",
  category: "bridge",
  properties,
  parents: ["pcie-root-port-base"],
})
export class PcieRootPort extends PcieRootPortDevice {
  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(PLUG_BUS) bus: PciBus,
    @inject(MACHINE) machine: Machine,
  ) {
    super({ vendorId: 0x1b36, deviceId: 0x000c, classCode: 0x0604 }, props, bus, {
      ssvid: { offset: 0x40, vendorId: 0x1b36, subsystemId: 0 },
      interrupts: (port) => {
        const msix = Msix.exclusiveBar(port, 1, 0);
        msix.use(0);
        return { msix };
      },
      aerVector: () => 0,
      expOffset: 0x54,
      slotLink: { speed: PCIE_LINK_SPEED[props["x-speed"]], width: Number(props["x-width"]) as PcieLinkWidth },
      aerOffset: 0x100,
      acsOffset: 0x148,
      removeFunction: (fn) => machine.finishUnplug(fn),
    });
    if (props.hotplug && this.nativeHotplugHidden(bus)) {
      const none = NO_RESERVE_HINT;
      this.addResourceReserveCapability({ bus: 0xffffffff, io: DEFAULT_IO_RESERVE, mem: none, pref32: none, pref64: none });
    }
  }
}
