import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciBridgeDevice } from "../src/pci/bridge.js";
import { PCI_CAP_ID_SLOTID, PCI_SID_CHASSIS_NR, PCI_SID_ESR, PCI_SID_ESR_FIC } from "../src/pci/constants.js";
import type { DeviceProps } from "../src/pci/device.js";
import { Msi } from "../src/pci/msi.js";
import { SHPC_BAR_SIZE, Shpc } from "../src/pci/shpc.js";

const properties = {
  chassis_nr: prop(types.uint8, 0, "chassis number for the slot identification capability (required, > 0)"),
  msi: prop(types.enumOf(["on", "off", "auto"] as const), "auto", "MSI capability for the hot-plug controller"),
  shpc: prop(types.bool, true, "standard hot-plug controller (SHPC) capability and BAR"),
};

/**
 * QEMU's generic PCI-to-PCI bridge "pci-bridge" (Red Hat 1b36:0001): type 1 header, capabilities
 * added SHPC, slot id, then MSI (so MSI heads the list), and the SHPC registers in a 64-bit BAR 0.
 */
@pciDriver({
  name: "pci-bridge",
  description: "Standard PCI Bridge",
  category: "bridge",
  properties,
})
export class PciBridge extends PciBridgeDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof properties>) {
    super({ vendorId: 0x1b36, deviceId: 0x0001, classCode: 0x0604 }, props);
    if (props.chassis_nr === 0) {
      throw new MachbusError(
        "bad-property-value",
        "Bridge chassis not specified. Each bridge is required to be assigned a unique chassis id > 0.",
      );
    }
    const c = this.config;
    let shpc: Shpc | null = null;
    if (props.shpc) {
      c.set8(0x3d, 1); // INTA, for the hot-plug controller's interrupt
      shpc = new Shpc(this);
    }
    const sid = this.capabilities.add(PCI_CAP_ID_SLOTID, 4);
    c.set8(sid + PCI_SID_ESR, PCI_SID_ESR_FIC); // every bridge is first in its own chassis
    c.set8(sid + PCI_SID_CHASSIS_NR, props.chassis_nr);
    c.wmask[sid + PCI_SID_CHASSIS_NR] = 0xff; // non-volatile: not reset
    if (props.shpc && props.msi !== "off") new Msi(this, { vectors: 1, is64bit: true, perVectorMask: true });
    if (shpc) this.defineBar(0, { kind: "mem64", size: SHPC_BAR_SIZE, name: "shpc-bar", ops: shpc.registers });
  }
}
