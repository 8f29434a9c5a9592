import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { AddressSpace, Region } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { CLOCK, DEVICE_PROPS, EVENTS, IO_SPACE, type Clock } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, f64, u16 } from "../src/state/description.js";

const PIIX4_PMBASE = 0x40;
const PIIX4_PMREGMISC = 0x80; // bit 0: the PM I/O block decodes at PMBASE
const SMB_IO_BASE = 0xb100;

/** The ACPI register block at PMBASE: PM1 event (0), PM1 control (4), PM timer (8). */
const PM_IO_SIZE = 64;
const PM_TIMER_HZ = 3_579_545;
const PM_TIMER_MASK = 0xffffff; // a 24-bit counter
const PM1_TMR_STS = 1 << 0; // the timer's bit 23 changed since the guest last cleared this
/** PM1 enable bits that raise the SCI with their status bit (QEMU's ACPI_BITMASK_PM1_COMMON_ENABLED). */
const PM1_SCI_ENABLES = (1 << 0) | (1 << 5) | (1 << 8) | (1 << 10); // timer, global lock, power button, RTC
const PM1_CNT_SLP_EN = 1 << 13; // write-only: the sleep request itself is not modelled
const SCI_IRQ = 9; // the pc board wires the SCI to ISA IRQ 9

/** The PM1 event and control registers, and when the timer next sets TMR_STS. */
interface Pm1Registers {
  status: number;
  enable: number;
  control: number;
  /** Timer tick at which TMR_STS is next set (QEMU's overflow_time; 0 after reset: set at once). */
  overflowTick: number;
}

const PM1_STATE = describeState<Pm1Registers>({
  name: "pm1",
  version: 1,
  fields: [u16("status"), u16("enable"), u16("control"), f64("overflowTick")],
});

/**
 * Intel 82371AB PIIX4 power management function at 01.3 (QEMU's "PIIX4_PM"): ACPI PM base
 * (0x40), SMBus base (0x90) and host configuration (0xd2), interrupt pin A (the SCI). The ACPI
 * block follows PMBASE as QEMU's pm_io_space_update moves it, and holds PM1 status/enable/control
 * and the PM timer, a 24-bit counter at 3.579545 MHz taken from the machine's clock. SMBus, GPE,
 * hotplug registers and sleep states are not modelled.
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
  private readonly pmIo = new AddressSpace("piix4-pm", PM_IO_SIZE);
  /** Where the ACPI block decodes now, or null while 0x80 bit 0 is clear. */
  private pmBase: number | null = null;
  private readonly pm1: Pm1Registers = { status: 0, enable: 0, control: 0, overflowTick: 0 };
  private sci = false;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(CLOCK) private readonly clock: Clock,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x7113, revision: 0x03, classCode: 0x0680, interruptPin: 1 }, props);
    const c = this.config;
    c.set16(0x06, 0x0280); // fast back-to-back, medium DEVSEL
    c.set8(0x5f, 0x10); // no parallel port at 0x378
    c.set8(0x63, 0x60);
    c.set8(0x90, (SMB_IO_BASE & 0xff) | 1);
    c.set8(0x91, SMB_IO_BASE >> 8);
    c.set8(0xd2, 0x09); // SMBus host enabled, interrupt select
    this.definePmRegisters();
    this.function.onConfigWrite(PIIX4_PMBASE, 4, () => this.updatePmIo());
    this.function.onConfigWrite(PIIX4_PMREGMISC, 1, () => this.updatePmIo());
    this.function.keepState(PM1_STATE, this.pm1);
  }

  /** The PM block follows the loaded PMBASE; the SCI follows the loaded PM1 registers. */
  override stateLoaded(): void {
    this.updatePmIo();
    this.updateSci();
  }

  override unplugging(): void {
    this.mapPmIo(null);
  }

  protected override resetRegisters(): void {
    const c = this.config;
    for (const reg of [0x58, 0x59, 0x5a, 0x5b]) c.set8(reg, 0);
    c.set8(PIIX4_PMBASE, 0x01); // PM base: the I/O-space indicator bit reads 1
    c.set8(PIIX4_PMREGMISC, 0);
    this.pm1.status = 0;
    this.pm1.enable = 0;
    this.pm1.control = 0;
    this.pm1.overflowTick = 0;
    this.updateSci();
    this.updatePmIo();
  }

  /** The PM timer's count now (all 24 bits; the register shows the low 24). */
  private ticks(): number {
    return Math.floor(this.clock.nowNs() * (PM_TIMER_HZ / 1e9));
  }

  private status(): number {
    if (this.ticks() >= this.pm1.overflowTick) this.pm1.status |= PM1_TMR_STS;
    return this.pm1.status;
  }

  private definePmRegisters(): void {
    // QEMU's acpi-evt and acpi-cnt take 1- and 2-byte accesses, handled as 2; acpi-tmr only 4.
    const pm1 = { implMin: 2, maxAccess: 2 } as const;
    this.pmIo.map(
      new Region(
        "acpi-evt",
        4,
        {
          read: (offset) => (offset === 0 ? this.status() : offset === 2 ? this.pm1.enable : 0),
          write: (offset, _size, value) => {
            if (offset === 0) {
              // Writing 1 clears a status bit; clearing TMR_STS arms the next bit-23 change.
              if (this.status() & value & PM1_TMR_STS) this.pm1.overflowTick = nextBit23Change(this.ticks());
              this.pm1.status &= ~value;
            } else if (offset === 2) this.pm1.enable = value;
            this.updateSci();
          },
        },
        { ...pm1, owner: "PIIX4_PM" },
      ),
      0,
    );
    // QEMU 7.2's PM1 control ignores the offset: a byte access at +5 reads and writes the low byte.
    this.pmIo.map(
      new Region(
        "acpi-cnt",
        2,
        {
          read: () => this.pm1.control,
          write: (_offset, _size, value) => void (this.pm1.control = value & ~PM1_CNT_SLP_EN & 0xffff),
        },
        { ...pm1, owner: "PIIX4_PM" },
      ),
      4,
    );
    this.pmIo.map(
      new Region(
        "acpi-tmr",
        4,
        {
          read: (_offset, size) => (size === 4 ? this.ticks() & PM_TIMER_MASK : 0),
          write: () => {},
        },
        { owner: "PIIX4_PM" },
      ),
      8,
    );
  }

  /** QEMU's pm_update_sci, without GPE and the timer-overflow wake-up. */
  private updateSci(): void {
    const level = (this.status() & this.pm1.enable & PM1_SCI_ENABLES) !== 0;
    if (level === this.sci) return;
    this.sci = level;
    this.events.emit("irq", { line: SCI_IRQ, level });
  }

  /** QEMU's pm_io_space_update: PMBASE bits 15:6, enabled by 0x80 bit 0. */
  private updatePmIo(): void {
    const c = this.config;
    this.mapPmIo(c.get8(PIIX4_PMREGMISC) & 1 ? c.get32(PIIX4_PMBASE) & 0xffc0 : null);
  }

  private mapPmIo(base: number | null): void {
    const old = this.pmBase;
    if (base === old) return;
    const owner = this.id ?? this.driver;
    if (old !== null) this.io.unmapWindow(this.pmIo, old);
    if (base !== null) this.io.mapWindow(this.pmIo, base, PM_IO_SIZE, { targetBase: 0, priority: 0, owner });
    this.pmBase = base;
    this.events.emit(base === null ? "region-unmapped" : "region-mapped", {
      device: owner,
      region: "piix4-pm",
      space: "io",
      size: PM_IO_SIZE,
      oldAddress: old,
      newAddress: base,
    });
  }
}

/** The first tick after `tick` at which bit 23 of the count changes (the count is beyond 32 bits). */
function nextBit23Change(tick: number): number {
  return (Math.floor(tick / 0x800000) + 1) * 0x800000;
}
