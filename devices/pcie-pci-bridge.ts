import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciBridgeDevice } from "../src/pci/bridge.js";
import { PCI_CAP_ID_PM, PCI_PM_PMC, PCI_PM_SIZEOF } from "../src/pci/constants.js";
import type { DeviceProps } from "../src/pci/device.js";
import { Msi } from "../src/pci/msi.js";
import { PCIE_TYPE, PcieCapability } from "../src/pci/pcie.js";
import { aerInit } from "../src/pci/pcie-extcaps.js";
import { SHPC_BAR_SIZE, Shpc } from "../src/pci/shpc.js";

const properties = {
  msi: prop(types.enumOf(["on", "off", "auto"] as const), "auto", "MSI capability for the hot-plug controller"),
};

/**
 * QEMU's PCI Express to PCI bridge "pcie-pci-bridge" (Red Hat 1b36:000e; pcie_pci_bridge.c): a
 * PCIe function whose secondary bus is conventional PCI, with SHPC hotplug for it. Capabilities
 * SHPC at 0x40, PCIe (PCI bridge type) at 0x48, power management at 0x84, MSI at 0x8c; AER at
 * 0x100; the SHPC registers in a 64-bit BAR 0.
 */
@pciDriver({ name: "pcie-pci-bridge", description: "Red Hat PCIe to PCI bridge", category: "bridge", properties })
export class PciePciBridge extends PciBridgeDevice {
  private readonly cap: PcieCapability;

  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof properties>) {
    super({ vendorId: 0x1b36, deviceId: 0x000e, classCode: 0x0604, express: true, interruptPin: 1 }, props);
    const shpc = new Shpc(this);
    this.cap = new PcieCapability(this, { type: PCIE_TYPE.pciBridge, version: 2 });
    const pm = this.capabilities.add(PCI_CAP_ID_PM, PCI_PM_SIZEOF);
    this.config.set16(pm + PCI_PM_PMC, 0x3);
    this.cap.arifwdInit();
    this.cap.deverrInit();
    aerInit(this, this.cap, { offset: 0x100, logMax: 0 });
    if (props.msi !== "off") new Msi(this, { vectors: 1, is64bit: true, perVectorMask: true });
    this.defineBar(0, { kind: "mem64", size: SHPC_BAR_SIZE, name: "shpc-bar", ops: shpc.registers });
  }

  /** The bus behind it is conventional PCI. */
  protected override get secondaryIsExpress(): boolean {
    return false;
  }

  /** QEMU's pcie_pci_bridge_reset: the bridge registers (MSI resets itself). */
  protected override resetRegisters(): void {
    this.resetBridgeRegisters({ disableForwarding: false });
  }
}
