import { inject } from "tsyringe";
import { registerFile, registerFileState } from "../src/memory/register-file.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { ideChannel } from "../src/storage/ide-bus.js";

const BMDMA_STATE = registerFileState("bmdma");

/**
 * Intel 82371SB PIIX3 IDE controller at 01.1 (QEMU's "piix3-ide"): legacy-mode IDE (BARs 0-3
 * unimplemented: on QEMU the channels sit at 0x1f0/0x170) with the bus-master DMA block in BAR 4.
 * Config space and BAR 4 only: the legacy channel ports are not modelled and read all ones.
 * Its two channels are buses ide.0 and ide.1, each with a master (unit 0) and a slave (unit 1).
 */
@pciDriver({
  name: "piix3-ide",
  description: "Intel 82371SB PIIX3 IDE controller (pc board, 01.1)",
  category: "storage",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
  buses: [ideChannel, ideChannel],
})
export class Piix3Ide extends PciDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x8086, deviceId: 0x7010, classCode: 0x0101, progIf: 0x80 }, props);
    this.config.set16(0x06, 0x0280); // fast back-to-back, medium DEVSEL
    // Bus-master DMA registers: no transfers are modelled, so they hold what is written.
    const bmdma = registerFile(16);
    this.defineBar(4, { kind: "io", size: 16, name: "piix-bmdma-container", ops: bmdma });
    this.function.keepState(BMDMA_STATE, bmdma);
  }
}
