import { inject } from "tsyringe";
import type { Machine } from "../src/machine/machine.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS, MACHINE, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import { Msi } from "../src/pci/msi.js";
import { PcieRootPortDevice, pcieRootPortProperties, type PcieRootPortProps } from "../src/pci/pcie-port.js";

/**
 * Intel X58 IOH root port "ioh3420" (8086:3420 rev 2; QEMU's ioh3420.c): subsystem ID at 0x40,
 * MSI with 2 vectors and per-vector masking at 0x60, the PCIe capability at 0x90 (2.5 GT/s x1),
 * AER at 0x100, no ACS. AER interrupts use vector 1 once the guest enables both.
 */
@pciDriver({
  name: "ioh3420",
  description: "Intel IOH device id 3420 PCIE Root Port",
  category: "bridge",
  properties: pcieRootPortProperties,
  parents: ["pcie-root-port-base"],
})
export class Ioh3420 extends PcieRootPortDevice {
  constructor(@inject(DEVICE_PROPS) props: PcieRootPortProps, @inject(PLUG_BUS) bus: PciBus, @inject(MACHINE) machine: Machine) {
    let msi: Msi | null = null;
    super({ vendorId: 0x8086, deviceId: 0x3420, classCode: 0x0604, revision: 0x02 }, props, bus, {
      ssvid: { offset: 0x40, vendorId: 0x8086, subsystemId: 0 },
      interrupts: (port) => ({ msi: (msi = new Msi(port, { offset: 0x60, vectors: 2, is64bit: false, perVectorMask: true })) }),
      // ioh3420_aer_vector: message 1 when the guest enabled two vectors.
      aerVector: () => (msi && msi.vectorCount === 2 ? 1 : 0),
      expOffset: 0x90,
      aerOffset: 0x100,
      acsOffset: null,
      removeFunction: (fn) => machine.finishUnplug(fn),
    });
  }
}
