import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import type { AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { CLOCK, DEVICE_PROPS, EVENTS, IO_SPACE, type Clock } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { AcpiPm1, PM1_STATE, PmIoBlock } from "./acpi-pm.js";

const PIIX4_PMBASE = 0x40;
const PIIX4_PMREGMISC = 0x80; // bit 0: the PM I/O block decodes at PMBASE
const NOT_MODELLED = { guestVisible: false } as const;

/** QEMU's PIIX4_PM properties with the values the pc board gives them (smb_io_base, smm-enabled). */
const properties = {
  smb_io_base: prop(types.uint32, 0xb100, "SMBus I/O base (config 0x90)"),
  disable_s3: prop(types.uint8, 0, "ACPI S3 disabled (sleep states are not modelled)", NOT_MODELLED),
  disable_s4: prop(types.uint8, 0, "ACPI S4 disabled (sleep states are not modelled)", NOT_MODELLED),
  s4_val: prop(types.uint8, 2, "ACPI S4 sleep type value (not modelled)", NOT_MODELLED),
  "acpi-pci-hotplug-with-bridge-support": prop(types.bool, true, "ACPI PCI hotplug behind bridges (not modelled)", NOT_MODELLED),
  "acpi-root-pci-hotplug": prop(types.bool, true, "ACPI PCI hotplug on the root bus (not modelled)", NOT_MODELLED),
  "memory-hotplug-support": prop(types.bool, true, "ACPI memory hotplug (not modelled)", NOT_MODELLED),
  "smm-compat": prop(types.bool, false, "old SMM behaviour (not modelled)", NOT_MODELLED),
  "smm-enabled": prop(types.bool, true, "SMM present (not modelled)", NOT_MODELLED),
  "x-not-migrate-acpi-index": prop(types.bool, false, "migration work-around (not modelled)", NOT_MODELLED),
};

/** The ACPI register block at PMBASE: PM1 event (0), PM1 control (4), PM timer (8). */
const PM_IO_SIZE = 64;
const SCI_IRQ = 9; // the pc board wires the SCI to ISA IRQ 9

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
  properties,
  userCreatable: false,
  hotpluggable: false,
  gpios: [
    { dir: "out", name: "smi-irq", count: 1 },
    { dir: "out", name: "", count: 1 },
  ],
})
export class Piix4Pm extends PciDevice {
  /** The ACPI block; it decodes while 0x80 bit 0 is set. */
  private readonly pmIo: PmIoBlock;
  private readonly pm1: AcpiPm1;
  private sci = false;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(IO_SPACE) io: AddressSpace,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(CLOCK) clock: Clock,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x7113, revision: 0x03, classCode: 0x0680, interruptPin: 1 }, props);
    const c = this.config;
    c.set16(0x06, 0x0280); // fast back-to-back, medium DEVSEL
    c.set8(0x5f, 0x10); // no parallel port at 0x378
    c.set8(0x63, 0x60);
    c.set8(0x90, (props.smb_io_base & 0xff) | 1);
    c.set8(0x91, (props.smb_io_base >> 8) & 0xff);
    c.set8(0xd2, 0x09); // SMBus host enabled, interrupt select
    this.pmIo = new PmIoBlock("piix4-pm", PM_IO_SIZE, io, events, () => this.id ?? this.driver);
    this.pm1 = new AcpiPm1(clock, "PIIX4_PM", () => this.updateSci());
    this.pm1.mapInto(this.pmIo.space);
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
    this.pmIo.moveTo(null);
  }

  protected override resetRegisters(): void {
    const c = this.config;
    for (const reg of [0x58, 0x59, 0x5a, 0x5b]) c.set8(reg, 0);
    c.set8(PIIX4_PMBASE, 0x01); // PM base: the I/O-space indicator bit reads 1
    c.set8(PIIX4_PMREGMISC, 0);
    this.pm1.reset();
    this.updateSci();
    this.updatePmIo();
  }

  /** QEMU's pm_update_sci, without GPE and the timer-overflow wake-up. */
  private updateSci(): void {
    const level = this.pm1.sciLevel;
    if (level === this.sci) return;
    this.sci = level;
    this.events.emit("irq", { line: SCI_IRQ, level });
  }

  /** QEMU's pm_io_space_update: PMBASE bits 15:6, enabled by 0x80 bit 0. */
  private updatePmIo(): void {
    const c = this.config;
    this.pmIo.moveTo(c.get8(PIIX4_PMREGMISC) & 1 ? c.get32(PIIX4_PMBASE) & 0xffc0 : null);
  }
}
