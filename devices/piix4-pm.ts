import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { CLOCK, DEVICE_PROPS, EVENTS, IO_SPACE, MACHINE, type Clock } from "../src/machine/tokens.js";
import type { Machine } from "../src/machine/machine.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import type { PciBridgeDevice } from "../src/pci/bridge.js";
import type { PciBus } from "../src/pci/bus.js";
import type { PciFunction } from "../src/pci/function.js";
import { columns, describeState, struct, table, u16, u32, u8 } from "../src/state/description.js";
import { AcpiPm1, APM_CNT_IOPORT, PM1_FIELDS, PM1_STATE, PmIoBlock, apmRegion } from "./acpi-pm.js";

const PIIX4_PMBASE = 0x40;
const PIIX4_PMREGMISC = 0x80; // bit 0: the PM I/O block decodes at PMBASE
const NOT_MODELLED = { guestVisible: false } as const;

/** QEMU's PIIX4_PM properties with the values the pc board gives them (smb_io_base, smm-enabled). */
const properties = {
  smb_io_base: prop(types.uint32, 0xb100, "SMBus I/O base (config 0x90)"),
  disable_s3: prop(types.uint8, 0, "ACPI S3 disabled (sleep states are not modelled)", NOT_MODELLED),
  disable_s4: prop(types.uint8, 0, "ACPI S4 disabled (sleep states are not modelled)", NOT_MODELLED),
  s4_val: prop(types.uint8, 2, "ACPI S4 sleep type value: SLP_TYP that powers the machine off, as soft off (S5) does"),
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
const ACPI_ENABLE = 0xf1; // the FADT's ACPI_ENABLE / ACPI_DISABLE commands for SMI_CMD (0xb2)
const ACPI_DISABLE = 0xf0;
const PM1_CNT_SCI_EN = 1;
/** PIIX4's GPE0 block (status word, enable word) and QEMU's ACPI PCI hotplug registers. */
const GPE0_BASE = 0xafe0;
const GPE0_LENGTH = 4;
const PCIHP_BASE = 0xae00;
const PCIHP_LENGTH = 0x18;
/** GPE0 status bits that raise the SCI: PCI (bit 1, the DSDT's _E01), CPU and memory hotplug. */
const GPE_PCI_HOTPLUG = 1 << 1;
const GPE_SCI_BITS = (1 << 1) | (1 << 2) | (1 << 3);
const PCIHP_UP = 0x00;
const PCIHP_DOWN = 0x04;
const PCIHP_EJECT = 0x08;
const PCIHP_REMOVABLE = 0x0c;
const PCIHP_SELECT = 0x10;

/** QEMU's ACPI_PCIHP_MAX_HOTPLUG_BUS: buses past the 256th get no BSEL. */
const PCIHP_MAX_BUSES = 256;

/**
 * The buses ACPI PCI hotplug serves, in BSEL order (QEMU's acpi_set_pci_info): the root bus,
 * then depth first along each bus's child list (newest bus first, as QEMU links them) every
 * bus behind a bridge the machine was built with. A hot-plugged bridge's bus has no BSEL: the
 * DSDT (machines/pc-acpi.ts, numbered by this) was built without it.
 */
export function acpiHotplugBuses(root: PciBus): PciBus[] {
  const buses: PciBus[] = [];
  const visit = (bus: PciBus): void => {
    buses.push(bus);
    for (const child of bus.children) if (!child.parentBridge?.hotplugged) visit(child);
  };
  visit(root);
  return buses;
}

/**
 * What PIIX4 PM keeps beyond PM1 (QEMU's vmstate_acpi: apm, gpe, the pcihp state): the APM
 * bytes, GPE0, the selected hotplug bus and each bus's slot bitmaps by BSEL (inserted, eject
 * requested), and which functions wait for the guest's eject (a bit per devfn, 8 words a bus).
 */
interface Piix4AcpiRegisters {
  pm1: AcpiPm1;
  apmControl: number;
  apmStatus: number;
  gpeStatus: number;
  gpeEnable: number;
  hotplugSelect: number;
  readonly hotplugUp: Uint32Array;
  readonly hotplugDown: Uint32Array;
  readonly unplugPending: Uint32Array;
}

/**
 * PIIX4's "pm1" state: version 1 is the PM1 block alone (PM1_STATE's layout, which ICH9 keeps);
 * version 2 adds what older streams lacked, loaded from them as after a reset.
 */
const PIIX4_PM1_STATE = describeState<Piix4AcpiRegisters>({
  name: PM1_STATE.name,
  version: 2,
  fields: [
    struct("pm1", PM1_FIELDS),
    u8("apmControl", { since: 2 }),
    u8("apmStatus", { since: 2 }),
    u16("gpeStatus", { since: 2 }),
    u16("gpeEnable", { since: 2 }),
    u32("hotplugSelect", { since: 2 }),
    table("pciHotplug", [columns.u32("hotplugUp"), columns.u32("hotplugDown"), columns.u32("unplugPending", { per: 8 })], {
      since: 2,
    }),
  ],
});

/**
 * Intel 82371AB PIIX4 power management function at 01.3 (QEMU's "PIIX4_PM"): ACPI PM base
 * (0x40), SMBus base (0x90) and host configuration (0xd2), interrupt pin A (the SCI). The ACPI
 * block follows PMBASE as QEMU's pm_io_space_update moves it, and holds PM1 status/enable/control
 * and the PM timer, a 24-bit counter at 3.579545 MHz taken from the machine's clock. The APM
 * port 0xb2 takes the FADT's ACPI enable/disable commands (SCI_EN), and the GPE0 block at 0xafe0
 * and QEMU's ACPI PCI hotplug registers at 0xae00 (hw/acpi/pcihp.c) tell the guest's DSDT
 * (src/acpi/pc-dsdt.ts) about devices plugged at run time and about unplug requests, which
 * complete when the guest ejects the slot. The SCI is PM1's events or GPE0's. SMBus, the SMI,
 * the CPU hotplug block and S3 are not modelled; soft off and S4 are a
 * `shutdown-request` event.
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
  private readonly regs: Piix4AcpiRegisters;
  private readonly apm: Region;
  private readonly gpeRegion: Region;
  private readonly hotplugRegion: Region;
  /** Unplug requests waiting for the guest's eject, with what completes them (regs.unplugPending has their bits). */
  private readonly pendingUnplugs = new Map<PciFunction, () => void>();

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(CLOCK) clock: Clock,
    @inject(MACHINE) private readonly machine: Machine,
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
    this.pm1 = new AcpiPm1(clock, "PIIX4_PM", () => this.updateSci(), events, props.s4_val);
    this.pm1.mapInto(this.pmIo.space);
    this.function.onConfigWrite(PIIX4_PMBASE, 4, () => this.updatePmIo());
    this.function.onConfigWrite(PIIX4_PMREGMISC, 1, () => this.updatePmIo());
    this.regs = {
      pm1: this.pm1,
      apmControl: 0,
      apmStatus: 0,
      gpeStatus: 0,
      gpeEnable: 0,
      hotplugSelect: 0,
      hotplugUp: new Uint32Array(PCIHP_MAX_BUSES),
      hotplugDown: new Uint32Array(PCIHP_MAX_BUSES),
      unplugPending: new Uint32Array(PCIHP_MAX_BUSES * 8),
    };
    this.function.keepState(PIIX4_PM1_STATE, this.regs);
    // QEMU's piix4 apm_ctrl_changed: ACPI enable/disable set or clear SCI_EN (the SMI is not modelled)
    this.apm = apmRegion("PIIX4_PM", this.regs, (command) => {
      if (command === ACPI_ENABLE) this.pm1.setSciEnable(true);
      else if (command === ACPI_DISABLE) this.pm1.setSciEnable(false);
    });
    // QEMU's acpi_gpe_ioport_*: byte registers, status bits cleared by writing ones
    this.gpeRegion = new Region(
      "acpi-gpe0",
      GPE0_LENGTH,
      {
        read: (offset) => ((offset < 2 ? this.regs.gpeStatus : this.regs.gpeEnable) >> (8 * (offset & 1))) & 0xff,
        write: (offset, _size, value) => {
          const shift = 8 * (offset & 1);
          if (offset < 2) this.regs.gpeStatus &= ~((value & 0xff) << shift);
          else this.regs.gpeEnable = (this.regs.gpeEnable & ~(0xff << shift)) | ((value & 0xff) << shift);
          this.updateSci();
        },
      },
      { implMax: 1, owner: "PIIX4_PM" },
    );
    this.hotplugRegion = new Region(
      "acpi-pci-hotplug",
      PCIHP_LENGTH,
      { read: (offset) => this.hotplugRead(offset), write: (offset, _size, value) => this.hotplugWrite(offset, value) },
      { implMin: 4, owner: "PIIX4_PM" },
    );
  }

  override plugged(): void {
    this.io.map(this.apm, APM_CNT_IOPORT);
    this.io.map(this.gpeRegion, GPE0_BASE);
    this.io.map(this.hotplugRegion, PCIHP_BASE);
    this.machine.hotplugController = this;
  }

  /** device_del: with ACPI in control (SCI_EN) the guest is told and ejects the slot; otherwise the device goes at once. */
  requestUnplug(fn: PciFunction, complete: () => void): boolean {
    const bsel = this.bselOf(fn.bus);
    if (!(this.pm1.control & PM1_CNT_SCI_EN) || bsel === null) return false;
    this.pendingUnplugs.set(fn, complete);
    this.regs.unplugPending[bsel * 8 + (fn.devfn >> 5)]! |= 1 << (fn.devfn & 31);
    this.regs.hotplugDown[bsel]! |= 1 << (fn.devfn >> 3);
    this.sendHotplugEvent();
    return true;
  }

  /**
   * The PM block follows the loaded PMBASE; the SCI follows the loaded PM1 and GPE registers;
   * unplug requests the stream says wait for the guest's eject complete as device_del's would.
   */
  override stateLoaded(): void {
    this.updatePmIo();
    this.updateSci();
    this.pendingUnplugs.clear();
    acpiHotplugBuses(this.machine.rootBus)
      .slice(0, PCIHP_MAX_BUSES)
      .forEach((bus, bsel) => {
        for (let devfn = 0; devfn < 256; devfn++) {
          if (!(this.regs.unplugPending[bsel * 8 + (devfn >> 5)]! & (1 << (devfn & 31)))) continue;
          const fn = bus.get(devfn);
          if (fn) this.pendingUnplugs.set(fn, () => this.machine.finishUnplug(fn));
        }
      });
  }

  override unplugging(): void {
    this.pmIo.moveTo(null);
    this.io.unmap(this.apm);
    this.io.unmap(this.gpeRegion);
    this.io.unmap(this.hotplugRegion);
    if (this.machine.hotplugController === this) this.machine.hotplugController = null;
  }

  protected override resetRegisters(): void {
    const c = this.config;
    for (const reg of [0x58, 0x59, 0x5a, 0x5b]) c.set8(reg, 0);
    c.set8(PIIX4_PMBASE, 0x01); // PM base: the I/O-space indicator bit reads 1
    c.set8(PIIX4_PMREGMISC, 0);
    this.pm1.reset();
    this.regs.gpeStatus = 0;
    this.regs.gpeEnable = 0;
    this.regs.hotplugSelect = 0;
    this.regs.hotplugUp.fill(0);
    this.regs.hotplugDown.fill(0);
    this.updateSci();
    this.updatePmIo();
  }

  /** QEMU's pm_update_sci, without the timer-overflow wake-up: PM1 events or hotplug GPEs. */
  private updateSci(): void {
    const level = this.pm1.sciLevel || (this.regs.gpeStatus & this.regs.gpeEnable & GPE_SCI_BITS) !== 0;
    if (level === this.sci) return;
    this.sci = level;
    this.events.emit("irq", { line: SCI_IRQ, level });
  }

  /** QEMU's pm_io_space_update: PMBASE bits 15:6, enabled by 0x80 bit 0. */
  private updatePmIo(): void {
    const c = this.config;
    this.pmIo.moveTo(c.get8(PIIX4_PMREGMISC) & 1 ? c.get32(PIIX4_PMBASE) & 0xffc0 : null);
  }

  // ---- ACPI PCI hotplug (QEMU's hw/acpi/pcihp.c)

  /** A bus's BSEL: its place in acpiHotplugBuses, as the DSDT numbers them; null for a bus without one. */
  private bselOf(bus: PciBus | null): number | null {
    if (!bus) return null;
    const index = acpiHotplugBuses(this.machine.rootBus).indexOf(bus);
    return index < 0 || index >= PCIHP_MAX_BUSES ? null : index;
  }

  private busOf(bsel: number): PciBus | undefined {
    return bsel < PCIHP_MAX_BUSES ? acpiHotplugBuses(this.machine.rootBus)[bsel] : undefined;
  }

  private sendHotplugEvent(): void {
    this.regs.gpeStatus |= GPE_PCI_HOTPLUG;
    this.updateSci();
  }

  /** A function device_add put on a bus of ours (QEMU's acpi_pcihp_device_plug_cb): the slot's up bit and the GPE. */
  hotplugged(fn: PciFunction): void {
    const bsel = this.bselOf(fn.bus);
    if (bsel === null || (fn.devfn & 7) !== 0) return;
    this.regs.hotplugUp[bsel]! |= 1 << (fn.devfn >> 3);
    this.sendHotplugEvent();
  }

  private hotplugRead(offset: number): number {
    const bsel = this.regs.hotplugSelect;
    const known = bsel < PCIHP_MAX_BUSES;
    switch (offset) {
      case PCIHP_UP: {
        if (!known) return 0;
        const up = this.regs.hotplugUp[bsel]!;
        this.regs.hotplugUp[bsel] = 0; // read-to-clear (QEMU with bridge support, the 7.2 default)
        return up;
      }
      case PCIHP_DOWN:
        return known ? this.regs.hotplugDown[bsel]! : 0;
      case PCIHP_REMOVABLE:
        return this.removableSlots();
      case PCIHP_SELECT:
        return bsel;
      default:
        return 0; // eject (0x08): no feature bits; acpi-index (0x14): none is set
    }
  }

  private hotplugWrite(offset: number, value: number): void {
    if (offset === PCIHP_SELECT) this.regs.hotplugSelect = value >>> 0;
    else if (offset === PCIHP_EJECT) this.eject(this.regs.hotplugSelect, value >>> 0);
  }

  /**
   * The guest's _EJ0 (QEMU's acpi_pcihp_eject_slot): the lowest slot written. Every function
   * there that may leave does, asked for by device_del or not (a guest powering a slot off on
   * its own); the slot's up and down bits clear.
   */
  private eject(bsel: number, slots: number): void {
    if (!slots) return;
    const slot = 31 - Math.clz32(slots & -slots);
    if (bsel >= PCIHP_MAX_BUSES) return;
    this.regs.hotplugDown[bsel]! &= ~(1 << slot);
    this.regs.hotplugUp[bsel]! &= ~(1 << slot);
    const bus = this.busOf(bsel);
    if (!bus) return;
    // The other functions first: the engine keeps function 0 while a slot has others.
    for (let devfn = (slot << 3) | 7; devfn >= slot << 3; devfn--) {
      const fn = bus.get(devfn);
      if (!fn) continue;
      const complete = this.pendingUnplugs.get(fn);
      if (complete) {
        this.pendingUnplugs.delete(fn);
        this.regs.unplugPending[bsel * 8 + (devfn >> 5)]! &= ~(1 << (devfn & 31));
      }
      // Asked for or not, only what may leave does (a described bridge stays, as on QEMU); a
      // hot-plugged bridge goes only once nothing is behind it, as device_del has it here.
      const bridge = fn.owner as Partial<PciBridgeDevice>;
      if (!this.removable(fn) || (bridge.hasSecondaryBus && bridge.secondaryBus!.hasFunctions())) continue;
      if (complete) complete();
      else this.machine.finishUnplug(fn);
    }
  }

  /** A system reset first carries out the device_del requests the guest has not ejected (QEMU's acpi_pcihp_update_hotplug_bus). */
  resetting(): void {
    this.regs.hotplugDown.forEach((_, bsel) => {
      while (this.regs.hotplugDown[bsel]) this.eject(bsel, this.regs.hotplugDown[bsel]!);
    });
  }

  /** QEMU's !acpi_pcihp_pc_no_hotplug: a hot-unpluggable device, and not a bridge the DSDT describes. */
  private removable(fn: PciFunction): boolean {
    if (!this.machine.devices().find((p) => p.device === fn.owner)?.info.hotpluggable) return false;
    return !(fn.owner as Partial<PciBridgeDevice>).hasSecondaryBus || fn.hotplugged;
  }

  /** Slots of the selected bus whose devices may leave (QEMU's hotplug_enable): not the board's chips nor described bridges. */
  private removableSlots(): number {
    const bus = this.busOf(this.regs.hotplugSelect);
    if (!bus) return 0;
    let mask = 0xffffffff;
    bus.functions.forEach((fn, devfn) => {
      if (fn && !this.removable(fn)) mask &= ~(1 << (devfn >> 3));
    });
    return mask >>> 0;
  }
}
