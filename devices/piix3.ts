import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { DEVICE_PROPS, EVENTS, IO_SPACE } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, u8 } from "../src/state/description.js";

const PIIX_PIRQCA = 0x60; // PIRQ route control A-D: 0x60-0x63, bit 7 = disabled, bits 3:0 = IRQ
const PIIX_NUM_PIRQS = 4;
const PIIX_RCR_IOPORT = 0xcf9;
// prettier-ignore
const RESET_REGISTERS: ReadonlyArray<readonly [number, number]> = [
  [0x04, 0x07], [0x05, 0x00], [0x06, 0x00], [0x07, 0x02], [0x4c, 0x4d], [0x4e, 0x03], [0x4f, 0x00],
  [0x60, 0x80], [0x61, 0x80], [0x62, 0x80], [0x63, 0x80], [0x69, 0x02], [0x70, 0x80], [0x76, 0x0c],
  [0x77, 0x0c], [0x78, 0x02], [0x79, 0x00], [0x80, 0x00], [0x82, 0x00], [0xa0, 0x08], [0xa2, 0x00],
  [0xa3, 0x00], [0xa4, 0x00], [0xa5, 0x00], [0xa6, 0x00], [0xa7, 0x00], [0xa8, 0x0f], [0xaa, 0x00],
  [0xab, 0x00], [0xac, 0x00], [0xae, 0x00],
];

const RCR_STATE = describeState<{ rcr: number }>({ name: "rcr", version: 1, fields: [u8("rcr")] });

/**
 * Intel 82371SB PIIX3 PCI-to-ISA bridge at 01.0 (QEMU's "PIIX3"): routes the four PCI interrupt
 * links PIRQA-D to ISA IRQs through registers 0x60-0x63, and owns the reset control register
 * at port 0xCF9.
 */
@pciDriver({
  name: "PIIX3",
  description: "Intel 82371SB PIIX3 ISA bridge (pc board, 01.0)",
  category: "bridge",
  properties: {},
  userCreatable: false,
  hotpluggable: false,
})
export class Piix3 extends PciDevice {
  /** Reset control register: only bit 1 (system reset type) is kept. */
  private readonly resetControl = { rcr: 0 };
  /** Bit n: ISA IRQ n is asserted by some PIRQ routed to it. */
  private picLevels = 0;

  private readonly rcrRegion = new Region(
    "piix3-reset-control",
    1,
    {
      read: () => this.resetControl.rcr,
      write: (_offset, _size, value) => {
        if (value & 4) this.events.emit("reset-request", { source: "piix3-rcr" });
        this.resetControl.rcr = value & 2;
      },
    },
    { implMax: 1, owner: "PIIX3" },
  );

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(IO_SPACE) private readonly io: AddressSpace,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x7000, classCode: 0x0601 }, props);
    this.function.onConfigWrite(PIIX_PIRQCA, PIIX_NUM_PIRQS, () => this.updateIrqLevels());
    this.function.keepState(RCR_STATE, this.resetControl);
  }

  override plugged(): void {
    // The root bus's INTx links end here; the RCR sits on top of the 0xCF8 latch (priority 1).
    this.function.bus!.connectIrqs((link, level) => this.setPirq(link, level), PIIX_NUM_PIRQS);
    this.io.map(this.rcrRegion, PIIX_RCR_IOPORT, 1);
  }

  override unplugging(): void {
    this.io.unmap(this.rcrRegion);
  }

  protected override resetRegisters(): void {
    for (const [reg, value] of RESET_REGISTERS) this.config.set8(reg, value);
    this.picLevels = 0;
    this.resetControl.rcr = 0;
  }

  override stateLoaded(): void {
    this.updateIrqLevels();
  }

  /** The ISA IRQ a PIRQ link is routed to, or -1 while routing is disabled (bit 7 set). */
  routeOf(link: number): number {
    const v = this.config.get8(PIIX_PIRQCA + link);
    return v & 0x80 ? -1 : v & 0x0f;
  }

  private setPirq(link: number, level: boolean): void {
    this.events.emit("intx", { link, level });
    const irq = this.routeOf(link);
    if (irq >= 0) this.setPicIrq(irq, this.picLevel(irq));
  }

  /** An ISA IRQ is high while any PIRQ routed to it is asserted (level-triggered, shared). */
  private picLevel(irq: number): boolean {
    const bus = this.function.bus!;
    for (let link = 0; link < PIIX_NUM_PIRQS; link++) {
      if (this.routeOf(link) === irq && bus.irqLevel(link)) return true;
    }
    return false;
  }

  private setPicIrq(irq: number, level: boolean): void {
    const mask = 1 << irq;
    if (((this.picLevels & mask) !== 0) === level) return;
    this.picLevels = level ? this.picLevels | mask : this.picLevels & ~mask;
    this.events.emit("irq", { line: irq, level });
  }

  /** After the guest reroutes a link, recompute every ISA IRQ's level. */
  private updateIrqLevels(): void {
    for (let irq = 0; irq < 16; irq++) this.setPicIrq(irq, this.picLevel(irq));
  }
}
