import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS, RAM_SIZE } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";

/** Register offsets of the 82441FX PMC (i440FX datasheet). */
const I440FX_DRAM_SIZE = 0x57; // QEMU's I440FX_COREBOOT_RAM_SIZE: RAM in 8 MiB units
const I440FX_SMRAM = 0x72;

/**
 * Intel 82441FX PCI and memory controller, the host bridge function at 00.0 of the pc board
 * (QEMU's "i440FX"). Everything from 0x40 up is plain guest-writable storage on QEMU: PAM and
 * SMRAM writes change QEMU's RAM mapping, which machbus leaves to the embedder.
 */
@pciDriver({
  name: "i440FX",
  description: "Intel 82441FX host bridge (pc board, slot 0)",
  category: "bridge",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
})
export class I440fx extends PciDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps, @inject(RAM_SIZE) ramSize: number) {
    super({ vendorId: 0x8086, deviceId: 0x1237, revision: 0x02, classCode: 0x0600 }, props);
    // Set once at realize, as QEMU does: a system reset keeps what the guest wrote.
    this.config.set8(I440FX_SMRAM, 0x02);
    this.config.set8(I440FX_DRAM_SIZE, Math.min(Math.floor(ramSize / (8 << 20)), 255));
  }
}
