import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import type { MachineEvents } from "../src/events.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { CLOCK, DEVICE_PROPS, EVENTS, IO_SPACE, MEMORY_SPACE, type Clock } from "../src/machine/tokens.js";
import { PCI_NUM_PINS, PCI_SLOT_MAX } from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, u8, u8Array, u32 } from "../src/state/description.js";
import { AcpiPm1, APM_CNT_IOPORT, PM1_STATE, PmIoBlock, apmRegion } from "./acpi-pm.js";

// LPC config registers (QEMU's include/hw/i386/ich9.h).
const ICH9_LPC_PMBASE = 0x40;
const ICH9_LPC_PMBASE_MASK = 0xff80; // bits 15:7: a 128-byte block
const ICH9_LPC_ACPI_CTRL = 0x44;
const ICH9_LPC_ACPI_CTRL_ACPI_EN = 0x80;
const ICH9_LPC_PIRQA_ROUT = 0x60; // PIRQA-D at 0x60-0x63
const ICH9_LPC_PIRQE_ROUT = 0x68; // PIRQE-H at 0x68-0x6b
const ICH9_LPC_PIRQ_ROUT_IRQEN = 0x80; // set: not routed to the PIC
const ICH9_LPC_PIRQ_ROUT_DEFAULT = 0x80;
const ICH9_LPC_GEN_PMCON_1 = 0xa0;
const ICH9_LPC_GEN_PMCON_1_SMI_LOCK = 0x10;
const ICH9_LPC_RCBA = 0xf0;
const ICH9_LPC_RCBA_MASK = 0xffffc000;
const ICH9_LPC_RCBA_EN = 0x1;
const ICH9_LPC_NB_PIRQS = 8;
const ICH9_LPC_PIC_NUM_PINS = 16;
const GSI_NUM_PINS = 24;
/** ACPI_CTRL bits 2:0 select the SCI's GSI; 3, 6 and 7 are reserved. */
const SCI_GSI = [9, 10, 11, -1, 20, 21, -1, -1] as const;

// Chipset configuration registers (the RCRB at RCBA): interrupt routing of devices 25-31, GCS.
const ICH9_CC_SIZE = 16 * 1024;
const ICH9_CC_D31IR = 0x3140;
const ICH9_CC_D30IR = 0x3142;
const ICH9_CC_D29IR = 0x3144;
const ICH9_CC_D28IR = 0x3146;
const ICH9_CC_D27IR = 0x3148;
const ICH9_CC_D26IR = 0x314c;
const ICH9_CC_D25IR = 0x3150;
const ICH9_CC_DIR_DEFAULT = 0x3210; // INTA-D -> PIRQA-D
const ICH9_CC_GCS = 0x3410;
const ICH9_CC_GCS_DEFAULT = 0x20; // NO_REBOOT
/** D25IR..D31IR by device number 25..31 (D30IR is read as 0: device 30 uses PIRQE-H). */
const DEVICE_IR: Record<number, number> = {
  25: ICH9_CC_D25IR,
  26: ICH9_CC_D26IR,
  27: ICH9_CC_D27IR,
  28: ICH9_CC_D28IR,
  29: ICH9_CC_D29IR,
  31: ICH9_CC_D31IR,
};

// The PM I/O block at PMBASE (128 bytes) and what sits in it.
const ICH9_PMIO_SIZE = 128;
const ICH9_PMIO_GPE0_STS = 0x20;
const ICH9_PMIO_GPE0_LEN = 16;
const ICH9_PMIO_SMI_EN = 0x30;

const ICH9_APM_ACPI_ENABLE = 0x02;
const ICH9_APM_ACPI_DISABLE = 0x03;
const ICH9_RST_CNT_IOPORT = 0xcf9;
/** Snapshot part "ich9": chipset configuration, GPE0, SMI enable/status, APM, RST_CNT, the SMI_EN lock. */

/** QOM properties QEMU lists in `-device ICH9-LPC,help` but not in `info qtree`. */
const qom = { inQtree: false } as const;
const qomReadOnly = { inQtree: false, writable: false, guestVisible: false } as const;

const properties = {
  noreboot: prop(types.bool, true, "pin strap: the GCS no-reboot bit (no effect here)", { guestVisible: false }),
  "smm-compat": prop(types.bool, false, "PM1 control as older machine types migrated it (no effect here)", { guestVisible: false }),
  "x-smi-broadcast": prop(types.bool, true, "SMI broadcast feature offered to firmware"),
  "x-smi-cpu-hotplug": prop(types.bool, true, "SMI-based CPU hotplug feature offered to firmware"),
  "x-smi-cpu-hotunplug": prop(types.bool, true, "SMI-based CPU hot-unplug feature offered to firmware"),
  "acpi-pci-hotplug-with-bridge-support": prop(types.bool, true, "", qom),
  "x-keep-pci-slot-hpc": prop(types.bool, true, "", qom),
  "memory-hotplug-support": prop(types.bool, true, "", qom),
  "cpu-hotplug-legacy": prop(types.bool, true, "", qom),
  disable_s3: prop(types.uint8, 0, "", qom),
  disable_s4: prop(types.uint8, 0, "", qom),
  s4_val: prop(types.uint8, 2, "", qom),
  enable_tco: prop(types.bool, true, "", qom),
  acpi_enable_cmd: prop(types.uint8, ICH9_APM_ACPI_ENABLE, "", qomReadOnly),
  acpi_disable_cmd: prop(types.uint8, ICH9_APM_ACPI_DISABLE, "", qomReadOnly),
  gpe0_blk: prop(types.uint32, 0, "", qomReadOnly),
  gpe0_blk_len: prop(types.uint32, ICH9_PMIO_GPE0_LEN, "", qomReadOnly),
  pm_io_base: prop(types.uint32, 0, "", qomReadOnly),
  sci_int: prop(types.uint8, 9, "", qomReadOnly),
};

/** ICH9 LPC registers beyond config space. */
interface Ich9Registers {
  /** The chipset configuration registers (QEMU's chip_config), shown at RCBA when enabled. */
  readonly chipConfig: Uint8Array;
  readonly gpe: Uint8Array;
  smiEnable: number;
  /** SMI_EN bits the guest may write: GBL_SMI_EN (bit 0) locks with GEN_PMCON_1's SMI_LOCK. */
  smiEnableWmask: number;
  smiStatus: number;
  apmControl: number;
  apmStatus: number;
  resetControl: number;
}

const ICH9_STATE = describeState<Ich9Registers>({
  name: "ich9",
  version: 1,
  fields: [
    u8Array("chipConfig"),
    u8Array("gpe"),
    u32("smiEnable"),
    u32("smiStatus"),
    u8("apmControl"),
    u8("apmStatus"),
    u8("resetControl"),
    // Only GBL_SMI_EN's lock (bit 0) ever changes in the mask.
    u32("smiEnableWmask", {
      check: (v) => ((v | 1) >>> 0 === 0xffffffff ? null : `SMI_EN write mask 0x${v.toString(16)} is not 0xfffffffe or 0xffffffff`),
    }),
  ],
});

/**
 * Intel ICH9 LPC interface bridge at 1f.0 of q35 (QEMU's "ICH9-LPC", 8086:2918): the PCI-to-ISA
 * bridge of the board's isa.0 bus, and the south bridge's interrupt router: PCI interrupt links
 * PIRQA-H (routing registers 0x60-0x63, 0x68-0x6b) drive I/O APIC pins 16-23 one to one and,
 * where a routing register enables it, PIC IRQ 0-15 (QEMU's "irq" lines are GSIs: 0-15 both,
 * 16-23 the I/O APIC's). Which link a slot's pin uses comes from the chipset configuration
 * registers at RCBA (devices 25-31) and QEMU's fallback (slot + pin) mod 4 + 4 elsewhere.
 * It also holds the ACPI PM block at PMBASE when ACPI_CTRL enables it (PM1, timer, GPE0, SMI
 * enable), the APM ports 0xb2/0xb3 and the reset control register at 0xcf9. The TCO watchdog,
 * DMA controllers and the ACPI PCI/CPU hotplug registers (0xcc0, 0xcd8) are not modelled.
 */
@pciDriver({
  name: "ICH9-LPC",
  description: "ICH9 LPC bridge",
  category: "bridge",
  properties,
  userCreatable: false,
  hotpluggable: false,
})
export class Ich9Lpc extends PciDevice {
  /** The registers a snapshot carries (chipset configuration, GPE0, SMI, APM, reset control). */
  private readonly regs: Ich9Registers = {
    chipConfig: new Uint8Array(ICH9_CC_SIZE),
    gpe: new Uint8Array(ICH9_PMIO_GPE0_LEN),
    smiEnable: 0,
    smiEnableWmask: 0xffffffff,
    smiStatus: 0,
    apmControl: 0,
    apmStatus: 0,
    resetControl: 0,
  };
  /** (slot, pin) -> PIRQ link 0-7 (QEMU's irr). */
  private readonly irr: Uint8Array[] = Array.from({ length: PCI_SLOT_MAX }, () => new Uint8Array(PCI_NUM_PINS));
  private readonly rcrb: Region;
  private rcrbBase: number | null = null;
  private readonly pmIo: PmIoBlock;
  private readonly pm1: AcpiPm1;
  /** Per GSI, the level last signalled. */
  private gsiLevels = 0;
  private sciGsi = 9;
  private readonly rcr: Region;
  private readonly apm: Region;
  /** Whether ACPI PCI hotplug handles root-port buses (QEMU's acpi-pci-hotplug-with-bridge-support). */
  readonly acpiPciHotplug: boolean;
  /** Whether PCIe slots keep their native hotplug bits under ACPI hotplug (QEMU's x-keep-pci-slot-hpc). */
  readonly keepPciSlotHpc: boolean;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(MEMORY_SPACE) private readonly memory: AddressSpace,
    @inject(CLOCK) clock: Clock,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x2918, revision: 0x02, classCode: 0x0601 }, props);
    this.acpiPciHotplug = props["acpi-pci-hotplug-with-bridge-support"];
    this.keepPciSlotHpc = props["x-keep-pci-slot-hpc"];
    const s = this.config;
    // QEMU sets the PMBASE mask, then overwrites its low byte with ACPI_CTRL's (ACPI_EN, SCI_IRQ_SEL).
    s.set32(ICH9_LPC_PMBASE, 0);
    s.wmask.set([0x87, 0xff, 0, 0], ICH9_LPC_PMBASE);
    for (let slot = 0; slot < PCI_SLOT_MAX; slot++) {
      for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.irr[slot]![pin] = ((slot + pin) % 4) + 4;
    }
    this.updateChipConfigRouting();
    this.rcrb = new Region(
      "lpc-rcrb-mmio",
      ICH9_CC_SIZE,
      {
        read: (offset, size) => {
          let v = 0;
          for (let i = Math.min(size, ICH9_CC_SIZE - offset) - 1; i >= 0; i--) v = (v << 8) | this.regs.chipConfig[offset + i]!;
          return v >>> 0;
        },
        write: (offset, size, value) => {
          for (let i = 0; i < size && offset + i < ICH9_CC_SIZE; i++) this.regs.chipConfig[offset + i] = (value >>> (8 * i)) & 0xff;
          this.updateChipConfigRouting();
          this.updateIrqs();
        },
      },
      { owner: "ICH9-LPC" },
    );
    this.pmIo = new PmIoBlock("ich9-pm", ICH9_PMIO_SIZE, io, events, () => this.id ?? this.driver);
    this.pm1 = new AcpiPm1(clock, "ICH9-LPC", () => this.updateIrqs(), events, props.s4_val);
    this.pm1.mapInto(this.pmIo.space);
    this.pmIo.space.map(
      new Region(
        "acpi-gpe0",
        ICH9_PMIO_GPE0_LEN,
        {
          read: (offset) => this.regs.gpe[offset]!,
          write: (offset, _size, value) => {
            // The first half is status (write 1 to clear), the second enable.
            const v = value & 0xff;
            this.regs.gpe[offset] = offset < ICH9_PMIO_GPE0_LEN / 2 ? this.regs.gpe[offset]! & ~v : v;
            this.updateIrqs();
          },
        },
        { implMax: 1, owner: "ICH9-LPC" },
      ),
      ICH9_PMIO_GPE0_STS,
    );
    this.pmIo.space.map(
      new Region(
        "acpi-smi",
        8,
        {
          read: (offset) => (offset === 0 ? this.regs.smiEnable : offset === 4 ? this.regs.smiStatus : 0),
          write: (offset, _size, value) => {
            if (offset === 0)
              this.regs.smiEnable = ((this.regs.smiEnable & ~this.regs.smiEnableWmask) | (value & this.regs.smiEnableWmask)) >>> 0;
          },
        },
        // QEMU takes 32-bit accesses only here.
        { implMin: 4, owner: "ICH9-LPC" },
      ),
      ICH9_PMIO_SMI_EN,
    );
    this.rcr = new Region(
      "lpc-reset-control",
      1,
      {
        read: () => this.regs.resetControl,
        write: (_offset, _size, value) => {
          if (value & 4) {
            this.events.emit("reset-request", { source: "ich9-rst-cnt" });
            return;
          }
          this.regs.resetControl = value & 0xa; // FULL_RST and SYS_RST
        },
      },
      { implMax: 1, owner: "ICH9-LPC" },
    );
    // QEMU's ich9_apm_ctrl_changed: the ACPI enable/disable commands set SCI_EN (the SMI is not modelled).
    this.apm = apmRegion("ICH9-LPC", this.regs, (command) => {
      if (command === ICH9_APM_ACPI_ENABLE) this.pm1.setSciEnable(true);
      else if (command === ICH9_APM_ACPI_DISABLE) this.pm1.setSciEnable(false);
    });
    const fn = this.function;
    fn.onConfigWrite(ICH9_LPC_PMBASE, 4, () => this.updatePmBase());
    fn.onConfigWrite(ICH9_LPC_ACPI_CTRL, 1, () => this.updatePmBase());
    fn.onConfigWrite(ICH9_LPC_RCBA, 4, () => this.updateRcba());
    fn.onConfigWrite(ICH9_LPC_PIRQA_ROUT, 4, () => this.updateIrqs());
    fn.onConfigWrite(ICH9_LPC_PIRQE_ROUT, 4, () => this.updateIrqs());
    fn.onConfigWrite(ICH9_LPC_GEN_PMCON_1, 8, () => this.updatePmcon());
    fn.keepState(PM1_STATE, this.pm1);
    fn.keepState(ICH9_STATE, this.regs);
  }

  override plugged(): void {
    // The root bus's eight INTx links end here; RST_CNT sits on top of the 0xCF8 latch (priority 1).
    this.function.bus!.connectIrqs((link) => this.pirqChanged(link), ICH9_LPC_NB_PIRQS);
    this.io.map(this.rcr, ICH9_RST_CNT_IOPORT, 1);
    this.io.map(this.apm, APM_CNT_IOPORT);
  }

  override unplugging(): void {
    this.io.unmap(this.rcr);
    this.io.unmap(this.apm);
    this.pmIo.moveTo(null);
    this.mapRcrb(null);
  }

  /**
   * The fw_cfg files of ICH9's SMI feature negotiation (QEMU's ich9_lpc_pm_init), when it offers
   * any feature (x-smi-broadcast, x-smi-cpu-hotplug, x-smi-cpu-hotunplug). features-ok reads 1:
   * selecting it validates the (empty) request, as on QEMU.
   */
  fwCfgFiles(): [string, Uint8Array][] {
    const p = this.props as DeviceProps<typeof properties>;
    const features = (p["x-smi-broadcast"] ? 1 : 0) | (p["x-smi-cpu-hotplug"] ? 2 : 0) | (p["x-smi-cpu-hotunplug"] ? 4 : 0);
    if (!features) return [];
    return [
      ["etc/smi/supported-features", Uint8Array.of(features, 0, 0, 0, 0, 0, 0, 0)],
      ["etc/smi/requested-features", new Uint8Array(8)],
      ["etc/smi/features-ok", Uint8Array.of(1)],
    ];
  }

  /** The PIRQ link (0-7 = A-H) that pin `pin` (0 = INTA) of a device in `slot` of the root bus drives. */
  pirqOf(slot: number, pin: number): number {
    return this.irr[slot]![pin]!;
  }

  /** The PIC IRQ a PIRQ link is routed to, or -1 while its routing register disables it (bit 7). */
  routeOf(link: number): number {
    const v = this.config.get8(link < 4 ? ICH9_LPC_PIRQA_ROUT + link : ICH9_LPC_PIRQE_ROUT + link - 4);
    return v & ICH9_LPC_PIRQ_ROUT_IRQEN ? -1 : v & 0x0f;
  }

  /** QEMU's ich9_lpc_reset and the PM block's pm_reset. */
  protected override resetRegisters(): void {
    const s = this.config;
    for (let i = 0; i < 4; i++) {
      s.set8(ICH9_LPC_PIRQA_ROUT + i, ICH9_LPC_PIRQ_ROUT_DEFAULT);
      s.set8(ICH9_LPC_PIRQE_ROUT + i, ICH9_LPC_PIRQ_ROUT_DEFAULT);
    }
    s.set8(ICH9_LPC_ACPI_CTRL, 0);
    s.set32(ICH9_LPC_PMBASE, 1); // the I/O-space indicator bit reads 1
    s.set32(ICH9_LPC_RCBA, 0);
    this.resetChipConfig();
    this.pm1.reset();
    this.regs.gpe.fill(0);
    this.regs.smiEnable = 0; // SMM is on (TCG): SMI_EN starts clear
    this.regs.smiEnableWmask = 0xffffffff;
    this.regs.smiStatus = 0;
    this.regs.resetControl = 0;
    this.updatePmBase();
    this.updateRcba();
    this.updateIrqs();
  }

  override stateLoaded(): void {
    this.updateChipConfigRouting();
    this.updatePmBase();
    this.updateRcba();
    this.updatePmcon();
    this.updateIrqs();
  }

  /** QEMU's ich9_cc_reset, in its order: each register written as 32 bits, so D30IR's write clears D29IR until it is written. */
  private resetChipConfig(): void {
    const c = new DataView(this.regs.chipConfig.buffer);
    this.regs.chipConfig.fill(0);
    c.setUint32(ICH9_CC_D31IR, ICH9_CC_DIR_DEFAULT, true);
    c.setUint32(ICH9_CC_D30IR, 0, true);
    for (const reg of [ICH9_CC_D29IR, ICH9_CC_D28IR, ICH9_CC_D27IR, ICH9_CC_D26IR, ICH9_CC_D25IR])
      c.setUint32(reg, ICH9_CC_DIR_DEFAULT, true);
    c.setUint32(ICH9_CC_GCS, ICH9_CC_GCS_DEFAULT, true);
    this.updateChipConfigRouting();
  }

  /** QEMU's ich9_cc_update: devices 25-29 and 31 from their DnnIR registers; device 30 (the DMI-to-PCI bridge) uses PIRQE-H. */
  private updateChipConfigRouting(): void {
    for (const [slot, reg] of Object.entries(DEVICE_IR)) {
      const ir = this.regs.chipConfig[reg]! | (this.regs.chipConfig[reg + 1]! << 8);
      for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.irr[Number(slot)]![pin] = (ir >> (4 * pin)) & 7;
    }
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.irr[30]![pin] = pin + 4;
  }

  /** QEMU's ich9_lpc_pmbase_sci_update: the PM block at PMBASE while ACPI_EN is set, and the SCI's GSI. */
  private updatePmBase(): void {
    const s = this.config;
    const ctrl = s.get8(ICH9_LPC_ACPI_CTRL);
    const base = ctrl & ICH9_LPC_ACPI_CTRL_ACPI_EN ? s.get32(ICH9_LPC_PMBASE) & ICH9_LPC_PMBASE_MASK : 0;
    this.pmIo.moveTo(base === 0 ? null : base);
    const gsi = SCI_GSI[ctrl & 7]!;
    if (gsi >= 0) this.sciGsi = gsi;
    this.updateIrqs();
  }

  /** QEMU's ich9_lpc_rcba_update: the chipset configuration registers at RCBA while its enable bit is set. */
  private updateRcba(): void {
    const rcba = this.config.get32(ICH9_LPC_RCBA);
    this.mapRcrb(rcba & ICH9_LPC_RCBA_EN ? (rcba & ICH9_LPC_RCBA_MASK) >>> 0 : null);
  }

  private mapRcrb(base: number | null): void {
    const old = this.rcrbBase;
    if (base === old) return;
    if (old !== null) this.memory.unmap(this.rcrb);
    if (base !== null) this.memory.map(this.rcrb, base, 1);
    this.rcrbBase = base;
    this.events.emit(base === null ? "region-unmapped" : "region-mapped", {
      device: this.id ?? this.driver,
      region: "lpc-rcrb-mmio",
      space: "memory",
      size: ICH9_CC_SIZE,
      oldAddress: old,
      newAddress: base,
    });
  }

  /** QEMU's ich9_lpc_pmcon_update: once SMI_LOCK is set it can no longer be written (not even after reset). */
  private updatePmcon(): void {
    const s = this.config;
    if (s.get8(ICH9_LPC_GEN_PMCON_1) & ICH9_LPC_GEN_PMCON_1_SMI_LOCK) {
      s.wmask[ICH9_LPC_GEN_PMCON_1] = s.wmask[ICH9_LPC_GEN_PMCON_1]! & ~ICH9_LPC_GEN_PMCON_1_SMI_LOCK;
      this.regs.smiEnableWmask = (this.regs.smiEnableWmask & ~1) >>> 0;
    }
  }

  private pirqChanged(link: number): void {
    this.events.emit("intx", { link, level: this.function.bus!.irqLevel(link) });
    this.updateIrqs();
  }

  /** QEMU's acpi_update_sci: an enabled PM1 event, or an enabled event in the first GPE0 byte. */
  private get sciLevel(): boolean {
    return this.pm1.sciLevel || (this.regs.gpe[0]! & this.regs.gpe[ICH9_PMIO_GPE0_LEN / 2]!) !== 0;
  }

  /**
   * QEMU's ich9_lpc_update_pic and ich9_lpc_update_apic for every GSI: a PIC line is the OR of
   * the links routed to it, an I/O APIC pin 16-23 follows its link; the SCI adds to its GSI.
   */
  private updateIrqs(): void {
    const bus = this.function.bus;
    let levels = 0;
    for (let link = 0; link < ICH9_LPC_NB_PIRQS; link++) {
      if (!bus?.irqLevel(link)) continue;
      levels |= 1 << (ICH9_LPC_PIC_NUM_PINS + link);
      const irq = this.routeOf(link);
      if (irq >= 0) levels |= 1 << irq;
    }
    if (this.sciLevel) levels |= 1 << this.sciGsi;
    const changed = (levels ^ this.gsiLevels) & ((1 << GSI_NUM_PINS) - 1);
    this.gsiLevels = levels;
    for (let line = 0; line < GSI_NUM_PINS; line++) {
      if (changed & (1 << line)) this.events.emit("irq", { line, level: (levels & (1 << line)) !== 0 });
    }
  }
}
