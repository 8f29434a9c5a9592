import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";

const PIIX4_PMBASE = 0x40;
const PIIX4_PMREGMISC = 0x80;
const SMB_IO_BASE = 0xb100;

/**
 * Intel 82371AB PIIX4 power management function at 01.3 (QEMU's "PIIX4_PM"): ACPI PM base
 * (0x40), SMBus base (0x90) and host configuration (0xd2), interrupt pin A (the SCI).
 */
@pciDriver({
  name: "PIIX4_PM",
  description: "Intel 82371AB PIIX4 ACPI power management (pc board, 01.3)",
  category: "bridge",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
})
export class Piix4Pm extends PciDevice {
  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x8086, deviceId: 0x7113, revision: 0x03, classCode: 0x0680, interruptPin: 1 }, props);
    const c = this.config;
    c.set16(0x06, 0x0280); // fast back-to-back, medium DEVSEL
    c.set8(0x5f, 0x10); // no parallel port at 0x378
    c.set8(0x63, 0x60);
    c.set8(0x90, (SMB_IO_BASE & 0xff) | 1);
    c.set8(0x91, SMB_IO_BASE >> 8);
    c.set8(0xd2, 0x09); // SMBus host enabled, interrupt select
  }

  protected override resetRegisters(): void {
    const c = this.config;
    for (const reg of [0x58, 0x59, 0x5a, 0x5b]) c.set8(reg, 0);
    c.set8(PIIX4_PMBASE, 0x01); // PM base: the I/O-space indicator bit reads 1
    c.set8(PIIX4_PMREGMISC, 0);
  }
}
