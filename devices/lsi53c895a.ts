import { inject } from "tsyringe";
import type { RegionOps } from "../src/memory/address-space.js";
import { registerFile, registerFileState } from "../src/memory/register-file.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PCI_LATENCY_TIMER } from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { scsiBus } from "../src/storage/scsi-bus.js";

const REGISTERS_SIZE = 0x100;
const MMIO_SIZE = 0x400;
const SCRIPT_RAM_SIZE = 0x2000;
const REGISTERS_STATE = registerFileState("lsi-registers");
const SCRIPT_RAM_STATE = registerFileState("lsi-script-ram");

/**
 * The operating registers as QEMU 7.2 reads them after reset (lsi_reg_readb through the I/O
 * BAR): SCNTL0 0xc0, SCID 0x07, GPREG 0x7f, DSTAT 0x80 (DMA FIFO empty), SSTAT2 0x02, CTEST0
 * 0xff, CTEST2 0x11, DCMD 0x40, ... and 0xff where lsi_reg_readb knows no register.
 */
// prettier-ignore
const RESET_VALUES: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0xc0], [0x04, 0x07], [0x07, 0x7f], [0x0c, 0x80], [0x0f, 0x02], [0x18, 0xff], [0x1a, 0x11],
  [0x27, 0x40], [0x44, 0xff], [0x45, 0xff], [0x46, 0x0f], [0x47, 0x0f], [0x49, 0xff], [0x4a, 0x80],
  [0x4c, 0xff], [0x51, 0xff], [0x52, 0xe0], [0x53, 0xff], [0x54, 0xff], [0x55, 0xff], [0x5a, 0xff],
  [0x5b, 0xff], [0xbc, 0xff], [0xbd, 0xff], [0xbe, 0xff], [0xbf, 0xff], [0xd0, 0xff], [0xd1, 0xff],
  [0xd2, 0xff], [0xd3, 0xff],
];
const UNKNOWN_FROM = 0xe0;
/** Offsets that read a constant in QEMU whatever is written (undecoded ones read 0xff). */
const READ_ONLY = new Set([
  0x44, 0x45, 0x46, 0x47, 0x49, 0x4c, 0x51, 0x52, 0x53, 0x54, 0x55, 0x5a, 0x5b, 0xbc, 0xbd, 0xbe, 0xbf, 0xd0, 0xd1, 0xd2, 0xd3,
]);

/**
 * LSI Logic 53C895A Ultra2 SCSI controller (QEMU's "lsi53c895a", 1000:0012, subsystem
 * 0000:1000): operating registers in I/O BAR 0 (256 ports) and mirrored four times in memory
 * BAR 1 (1 KiB), SCRIPTS RAM in memory BAR 2 (8 KiB); latency timer 0xff.
 * Not emulated: SCSI commands, the SCRIPTS processor and register side effects (the registers
 * are storage initialised to QEMU's reset values). Its SCSI bus (`<id>.0`, or `scsi.N` without
 * an id) takes targets 0-7 at LUN 0, as QEMU's LSI_MAX_DEVS and max_lun allow.
 */
@pciDriver({
  name: "lsi53c895a",
  description: "LSI53C895A SCSI Host Bus Adapter",
  category: "storage",
  properties: {},
  buses: [scsiBus({ maxChannel: 0, maxTarget: 7, maxLun: 0 })],
  gpios: [{ dir: "out", name: "", count: 1 }],
})
export class Lsi53c895a extends PciDevice {
  private readonly registers = registerFile(REGISTERS_SIZE);
  private readonly scriptRam = registerFile(SCRIPT_RAM_SIZE);

  constructor(@inject(DEVICE_PROPS) props: DeviceProps) {
    super({ vendorId: 0x1000, deviceId: 0x0012, classCode: 0x0100, subsystemId: 0x1000, interruptPin: 1 }, props);
    this.config.set8(PCI_LATENCY_TIMER, 0xff);
    const registers = this.registers;
    const owner = this.driver;
    // lsi_io_ops and lsi_mmio_ops take one byte at a time; the MMIO BAR repeats every 256 bytes.
    const ops: RegionOps = {
      read: (offset) => registers.read(offset & 0xff, 1),
      write: (offset, _size, value) => {
        const reg = offset & 0xff;
        if (reg < UNKNOWN_FROM && !READ_ONLY.has(reg)) registers.write(reg, 1, value);
      },
    };
    this.defineBar(0, { kind: "io", size: REGISTERS_SIZE, name: "lsi-io", ops, regionOptions: { implMax: 1, owner } });
    this.defineBar(1, { kind: "mem32", size: MMIO_SIZE, name: "lsi-mmio", ops, regionOptions: { implMax: 1, owner } });
    this.defineBar(2, { kind: "mem32", size: SCRIPT_RAM_SIZE, name: "lsi-ram", ops: this.scriptRam, regionOptions: { owner } });
    this.function.keepState(REGISTERS_STATE, registers);
    this.function.keepState(SCRIPT_RAM_STATE, this.scriptRam);
  }

  protected override resetRegisters(): void {
    const bytes = this.registers.bytes;
    bytes.fill(0);
    bytes.fill(0xff, UNKNOWN_FROM);
    for (const [reg, value] of RESET_VALUES) bytes[reg] = value;
  }
}
