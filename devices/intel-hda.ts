import { inject } from "tsyringe";
import { Region } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { Msi } from "../src/pci/msi.js";
import { describeState, struct, u32 } from "../src/state/description.js";

const properties = {
  debug: prop(types.uint32, 0, "debug message level (no guest-visible effect)"),
  msi: prop(types.enumOf(["on", "off", "auto"] as const), "auto", "MSI capability (one 64-bit vector); pc supports MSI, so auto means on"),
  old_msi_addr: prop(types.bool, false, "MSI capability at 0x50 instead of 0x60, as QEMU 2.1 and older placed it"),
};

/** HDCTL: bit 0 selects HD Audio signalling rather than AC'97 (ICH6 datasheet 18.1.19). */
const HDCTL = 0x40;
const MMIO_SIZE = 0x4000;
/** The registers occupy 0x2000 bytes and repeat once above (QEMU's intel-hda-alias). */
const REGISTERS_SIZE = 0x2000;
const STREAMS = 8;
/** QEMU's per-stream DMA buffer, which each stream's FIFOS register reports. */
const HDA_BUFFER_SIZE = 256;

const GCTL_RESET = 0x01;
const INT_GLOBAL = 1 << 31;
const INT_CONTROLLER = 1 << 30;
const CORBCTL_RUN = 0x02;
const RIRBWP_RESET = 0x8000;
const RIRBSTS_IRQ = 0x01;
const RIRBSTS_OVERRUN = 0x04;
const ICS_BUSY = 0x01;
const SD_CTL_SRST = 0x01;
const SD_CTL_BCIS = 1 << 26;
const SD_STS_FIFO_READY = 0x20;

interface HdaState {
  readonly regs: Record<string, number>;
  rirbCount: number;
}

/** One register of QEMU's regtab: reads at other offsets than a register's first byte return 0. */
interface HdaRegister {
  readonly size: number;
  /** Reset value; the value itself for constant registers (no `field`). */
  readonly reset: number;
  readonly wmask: number;
  /** Write-1-to-clear bits. */
  readonly wclear: number;
  /** The state word the register shows (several registers may share one, at different shifts). */
  readonly field?: string;
  readonly shift: number;
  readonly onWrite?: (old: number) => void;
}

/**
 * Intel 82801FB (ICH6) High Definition Audio controller (QEMU's "intel-hda", 8086:2668): the
 * controller registers in a 16 KiB BAR 0, HDCTL at 0x40, and MSI at 0x60 (0x50 with
 * old_msi_addr, as on pc-i440fx-2.1 and older). The codec bus is empty: CORB verbs are consumed
 * without responses, as QEMU does with no codec attached.
 * Not emulated: audio streams, DMA (CORB/RIRB rings and buffer descriptor lists are not read
 * or written), the wall clock (reads 0: no time base).
 */
@pciDriver({
  name: "intel-hda",
  description: "Intel HD Audio Controller (ich6)",
  category: "sound",
  properties,
  parents: ["intel-hda-generic"],
  buses: [{ type: "HDA" }], // its codec bus: no codec is modelled
})
export class IntelHda extends PciDevice {
  private readonly msi: Msi | null = null;
  /** Register values by regtab field name; several registers may share a field (a byte of it). */
  private readonly state: Record<string, number> = {};
  private readonly registers = new Map<number, HdaRegister>();
  /** What snapshots keep: the registers, and the RIRB entries written since the guest last acknowledged (QEMU's rirb_count). */
  private readonly hdaState: HdaState = { regs: this.state, rirbCount: 0 };

  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof properties>) {
    super({ vendorId: 0x8086, deviceId: 0x2668, classCode: 0x0403, revision: 1, interruptPin: 1 }, props);
    this.config.set8(HDCTL, 0x01);
    if (props.msi !== "off") {
      this.msi = new Msi(this, { vectors: 1, is64bit: true, perVectorMask: false, offset: props.old_msi_addr ? 0x50 : 0x60 });
    }
    this.defineRegisters();
    // The description lists the register table's fields: one u32 each, in table order.
    const fields = [...new Set([...this.registers.values()].flatMap((r) => (r.field ? [r.field] : [])))];
    const description = describeState<HdaState>({
      name: "intel-hda",
      version: 1,
      fields: [
        struct(
          "regs",
          fields.map((f) => u32(f)),
        ),
        u32("rirbCount"),
      ],
    });
    this.function.keepState(description, this.hdaState);
    const bar = this.defineBar(0, { kind: "mem32", size: MMIO_SIZE, name: "intel-hda-container" });
    const region = new Region(
      "intel-hda",
      REGISTERS_SIZE,
      {
        read: (offset, size) => this.readRegister(offset, size),
        write: (offset, size, value) => this.writeRegister(offset, size, value),
      },
      { owner: this.driver },
    );
    bar.contents.map(region, 0);
    bar.contents.map(region, REGISTERS_SIZE);
  }

  private defineRegisters(): void {
    const r = (offset: number, size: number, spec: Partial<HdaRegister> = {}): void => {
      this.registers.set(offset, { reset: 0, wmask: 0, wclear: 0, shift: 0, ...spec, size });
    };
    const irq = (): void => this.updateIrq();
    const corb = (): void => this.corbRun();
    r(0x00, 2, { reset: 0x4401 }); // GCAP: 4 output, 4 input streams, 64-bit
    r(0x02, 1); // VMIN
    r(0x03, 1, { reset: 1 }); // VMAJ
    r(0x04, 2, { reset: 0x3c }); // OUTPAY
    r(0x06, 2, { reset: 0x1d }); // INPAY
    r(0x08, 4, { field: "gctl", wmask: 0x0103, onWrite: () => this.gctlWritten() });
    r(0x0c, 2, { field: "wakeen", wmask: 0x7fff, onWrite: irq });
    r(0x0e, 2, { field: "statests", wmask: 0x7fff, wclear: 0x7fff, onWrite: irq });
    r(0x20, 4, { field: "intctl", wmask: 0xc00000ff, onWrite: irq });
    r(0x24, 4, { field: "intsts", wmask: 0xc00000ff, wclear: 0xc00000ff });
    r(0x30, 4, { field: "wallclk" });
    r(0x40, 4, { field: "corblbase", wmask: 0xffffff80 });
    r(0x44, 4, { field: "corbubase", wmask: 0xffffffff });
    r(0x48, 2, { field: "corbwp", wmask: 0xff, onWrite: corb });
    r(0x4a, 2, { field: "corbrp", wmask: 0x80ff });
    r(0x4c, 1, { field: "corbctl", wmask: 0x03, onWrite: corb });
    r(0x4d, 1, { field: "corbsts", wmask: 0x01, wclear: 0x01 });
    r(0x4e, 1, { field: "corbsize", reset: 0x42 });
    r(0x50, 4, { field: "rirblbase", wmask: 0xffffff80 });
    r(0x54, 4, { field: "rirbubase", wmask: 0xffffffff });
    r(0x58, 2, { field: "rirbwp", wmask: 0x8000, onWrite: () => this.rirbWpWritten() });
    r(0x5a, 2, { field: "rintcnt", wmask: 0xff });
    r(0x5c, 1, { field: "rirbctl", wmask: 0x07 });
    r(0x5d, 1, { field: "rirbsts", wmask: 0x05, wclear: 0x05, onWrite: (old) => this.rirbStsWritten(old) });
    r(0x5e, 1, { field: "rirbsize", reset: 0x42 });
    r(0x60, 4, { field: "icw", wmask: 0xffffffff });
    r(0x64, 4, { field: "irr" });
    r(0x68, 2, { field: "ics", wmask: 0x0003, wclear: 0x0002, onWrite: () => this.icsWritten() });
    r(0x70, 4, { field: "dplbase", wmask: 0xffffff81 });
    r(0x74, 4, { field: "dpubase", wmask: 0xffffffff });
    for (let n = 0; n < STREAMS; n++) {
      const base = 0x80 + n * 0x20;
      const ctl = `sd${n}ctl`;
      const written = (old: number): void => this.streamControlWritten(ctl, old);
      r(base, 4, { field: ctl, wmask: 0x1cff001f, onWrite: written });
      r(base + 2, 1, { field: ctl, shift: 16, wmask: 0x00ff0000, onWrite: written }); // stream number
      r(base + 3, 1, { field: ctl, shift: 24, wmask: 0x1c000000, wclear: 0x1c000000, reset: SD_STS_FIFO_READY << 24, onWrite: written });
      r(base + 0x04, 4, { field: `sd${n}lpib` });
      r(base + 0x08, 4, { field: `sd${n}cbl`, wmask: 0xffffffff });
      r(base + 0x0c, 2, { field: `sd${n}lvi`, wmask: 0x00ff });
      r(base + 0x10, 2, { reset: HDA_BUFFER_SIZE }); // FIFOS
      r(base + 0x12, 2, { field: `sd${n}fmt`, wmask: 0x7f7f });
      r(base + 0x18, 4, { field: `sd${n}bdlpl`, wmask: 0xffffff80 });
      r(base + 0x1c, 4, { field: `sd${n}bdlpu`, wmask: 0xffffffff });
    }
  }

  private readRegister(offset: number, size: number): number {
    const reg = this.registers.get(offset);
    if (!reg) return 0;
    if (!reg.field) return reg.reset;
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return ((this.state[reg.field]! >>> reg.shift) & mask) >>> 0;
  }

  /** QEMU's intel_hda_reg_write: masked bits take the value, then write-1-to-clear bits clear. */
  private writeRegister(offset: number, size: number, value: number): void {
    const reg = this.registers.get(offset);
    if (!reg?.field || !reg.wmask) return;
    const old = this.state[reg.field]!;
    const sizeMask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const val = (value << reg.shift) >>> 0;
    const wmask = ((sizeMask << reg.shift) & reg.wmask) >>> 0;
    let next = ((old & ~wmask) | (val & wmask)) >>> 0;
    next = (next & ~(val & reg.wclear)) >>> 0;
    this.state[reg.field] = next;
    reg.onWrite?.(old);
  }

  private gctlWritten(): void {
    if (!(this.state.gctl! & GCTL_RESET)) this.controllerReset();
  }

  /** QEMU's intel_hda_reset: every register to its reset value (there are no codecs to report). */
  private controllerReset(): void {
    for (const reg of this.registers.values()) if (reg.field && reg.shift === 0) this.state[reg.field] = 0;
    for (const reg of this.registers.values()) if (reg.field) this.state[reg.field] = (this.state[reg.field]! | reg.reset) >>> 0;
    this.hdaState.rirbCount = 0;
    this.updateIrq();
  }

  /** With no codec on the link, each verb is fetched and dropped: the read pointer catches up. */
  private corbRun(): void {
    const s = this.state;
    if (s.ics! & ICS_BUSY) return;
    if (!(s.corbctl! & CORBCTL_RUN) || this.hdaState.rirbCount === s.rintcnt) return;
    while ((s.corbrp! & 0xff) !== s.corbwp) s.corbrp = (s.corbrp! + 1) & 0xff;
  }

  private rirbWpWritten(): void {
    if (this.state.rirbwp! & RIRBWP_RESET) this.state.rirbwp = 0;
  }

  private rirbStsWritten(old: number): void {
    this.updateIrq();
    if (old & RIRBSTS_IRQ && !(this.state.rirbsts! & RIRBSTS_IRQ)) {
      this.hdaState.rirbCount = 0;
      this.corbRun();
    }
  }

  private icsWritten(): void {
    if (this.state.ics! & ICS_BUSY) this.corbRun();
  }

  private streamControlWritten(field: string, _old: number): void {
    // Stream reset: SRST reads back set, every other bit but FIFO ready clears.
    if (this.state[field]! & SD_CTL_SRST) this.state[field] = ((SD_STS_FIFO_READY << 24) | SD_CTL_SRST) >>> 0;
    this.updateIrq();
  }

  /** QEMU's intel_hda_update_int_sts and update_irq: INTSTS summarises; GIE gates INTx or MSI. */
  private updateIrq(): void {
    const s = this.state;
    let sts = 0;
    if (s.rirbsts! & (RIRBSTS_IRQ | RIRBSTS_OVERRUN)) sts |= INT_CONTROLLER;
    if (s.statests! & s.wakeen!) sts |= INT_CONTROLLER;
    for (let n = 0; n < STREAMS; n++) if (s[`sd${n}ctl`]! & SD_CTL_BCIS) sts |= 1 << n;
    if (sts & s.intctl!) sts |= INT_GLOBAL;
    s.intsts = sts >>> 0;
    const level = (sts & INT_GLOBAL) !== 0 && (s.intctl! & INT_GLOBAL) !== 0;
    if (this.msi?.enabled) {
      if (level) this.msi.notify(0);
    } else {
      this.setIrq(level);
    }
  }

  protected override resetRegisters(): void {
    this.controllerReset();
  }
}
