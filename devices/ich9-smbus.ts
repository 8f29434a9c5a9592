import { inject } from "tsyringe";
import { Region } from "../src/memory/address-space.js";
import { registerFile, registerFileState } from "../src/memory/register-file.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import type { Bar } from "../src/pci/bar.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";

const ICH9_SMB_SMB_BASE_BAR = 4;
const SMBUS_IO_SIZE = 64; // QEMU's pm_smbus block
const SMBUS_STATE = registerFileState("smbus");
const ICH9_SMB_HOSTC = 0x40;
const ICH9_SMB_HOSTC_HST_EN = 0x01;
const ICH9_SMB_HOSTC_SSRESET = 0x08;

/**
 * Intel ICH9 SMBus controller at 1f.3 of q35 (QEMU's "ICH9-SMB", 8086:2930 rev 2, INTA): the
 * SMBus host registers in I/O BAR 4, which decode only while the host configuration register
 * (0x40) has HST_EN set; SSRESET (bit 3) resets them and clears itself. The registers are plain
 * storage here: no SMBus transaction runs (the SPD EEPROMs QEMU puts on the bus are not modelled).
 */
@pciDriver({
  name: "ICH9-SMB",
  description: "ICH9 SMBus controller",
  category: "bridge",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
})
export class Ich9Smbus extends PciDevice {
  private readonly registers = registerFile(SMBUS_IO_SIZE);
  private readonly region = new Region("pm-smbus", SMBUS_IO_SIZE, this.registers, { maxAccess: 1, owner: "ICH9-SMB" });
  private readonly bar: Bar;
  /** Whether the SMBus registers decode in BAR 4 (HOSTC.HST_EN). */
  private decoding = false;

  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x8086, deviceId: 0x2930, revision: 0x02, classCode: 0x0c05, interruptPin: 1 }, props);
    this.bar = this.defineBar(ICH9_SMB_SMB_BASE_BAR, { kind: "io", size: SMBUS_IO_SIZE, name: "ich9-smbus" });
    this.function.onConfigWrite(ICH9_SMB_HOSTC, 1, () => this.hostConfigWritten());
    this.function.keepState(SMBUS_STATE, this.registers);
  }

  protected override resetRegisters(): void {
    this.config.set8(ICH9_SMB_HOSTC, 0);
    this.registers.bytes.fill(0);
    this.updateDecode();
  }

  override stateLoaded(): void {
    this.updateDecode();
  }

  /** QEMU's ich9_smbus_write_config. */
  private hostConfigWritten(): void {
    this.updateDecode();
    const s = this.config;
    if (s.get8(ICH9_SMB_HOSTC) & ICH9_SMB_HOSTC_SSRESET) {
      this.registers.bytes.fill(0);
      s.set8(ICH9_SMB_HOSTC, s.get8(ICH9_SMB_HOSTC) & ~ICH9_SMB_HOSTC_SSRESET);
    }
  }

  private updateDecode(): void {
    const on = (this.config.get8(ICH9_SMB_HOSTC) & ICH9_SMB_HOSTC_HST_EN) !== 0;
    if (on === this.decoding) return;
    this.decoding = on;
    if (on) this.bar.contents.map(this.region, 0);
    else this.bar.contents.unmap(this.region);
  }
}
