import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, IO_SPACE, MACHINE, MEMORY_SPACE } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, u32Array, u8, u8Array } from "../src/state/description.js";
import { VGA_CORE_FIELDS, VRAM_STATE, Vram, VgaCore, checkGlobalVmstate } from "./vga.js";

const MiB = 1024 * 1024;
const CLGD5446 = 0xb8;
/** The CL-GD5446 decodes 4 MiB whatever VRAM it is given (QEMU's real_vram_size). */
const ADDRESS_MASK = 4 * MiB - 1;
const BAR0_SIZE = 32 * MiB;
const BITBLT_APERTURE = 16 * MiB;
const BITBLT_APERTURE_SIZE = 4 * MiB;
const MMIO_SIZE = 0x1000;
const PORTS_BASE = 0x3b0;
const PORTS_SIZE = 0x30;

const SR_MASK = [0x03, 0x3d, 0x0f, 0x3f, 0x0e];
const GR_MASK = [0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff];
const SR12_HIDDEN_PALETTE = 0x02;
const BLT_START = 0x02;
const BLT_RESET = 0x04;
const BLT_AUTOSTART = 0x80;
/** BUSY, START and FIFOUSED: what a finished (or refused) blit clears in GR31. */
const BLT_IDLE_MASK = ~(0x01 | 0x02 | 0x10);

/** BitBLT registers in BAR 1 at 0x100 + offset, as the graphics controller index each one aliases. */
// prettier-ignore
const BLT_MMIO_GR: ReadonlyMap<number, number> = new Map([
  [0x00, 0x00], [0x01, 0x10], [0x02, 0x12], [0x03, 0x14], [0x04, 0x01], [0x05, 0x11], [0x06, 0x13], [0x07, 0x15],
  [0x08, 0x20], [0x09, 0x21], [0x0a, 0x22], [0x0b, 0x23], [0x0c, 0x24], [0x0d, 0x25], [0x0e, 0x26], [0x0f, 0x27],
  [0x10, 0x28], [0x11, 0x29], [0x12, 0x2a], [0x14, 0x2c], [0x15, 0x2d], [0x16, 0x2e], [0x17, 0x2f], [0x18, 0x30],
  [0x1a, 0x32], [0x1b, 0x33], [0x1c, 0x34], [0x1d, 0x35], [0x20, 0x38], [0x21, 0x39], [0x40, 0x31],
]);

/**
 * The Cirrus extensions on top of the VGA core (QEMU's cirrus_vga.c): sequencer, graphics and
 * CRT registers with 8-bit indexes, the hidden DAC register, the cursor palette, and the two
 * 32 KiB banks of the 0xA0000 window in extended mode (SR7 bit 0).
 */
class CirrusCore extends VgaCore {
  shadowGr0 = 0;
  shadowGr1 = 0;
  hiddenDacLock = 5;
  hiddenDacData = 0;
  hiddenPalette = new Uint8Array(48);
  readonly bankBase = new Uint32Array(2);
  readonly bankLimit = new Uint32Array(2);

  override reset(): void {
    super.reset();
    this.sr[0x06] = 0x0f; // extensions locked
    this.sr[0x1f] = 0x2d; // MCLK
    this.gr[0x18] = 0x0f;
    this.sr[0x0f] = 0x98;
    this.sr[0x17] = 0x20; // PCI bus
    this.sr[0x15] = 0x04; // 4 MiB
    this.cr[0x27] = CLGD5446; // part ID
    this.shadowGr0 = this.shadowGr1 = 0;
    this.hiddenDacLock = 5;
    this.hiddenDacData = 0;
    this.hiddenPalette.fill(0);
    this.bankBase.fill(0);
    this.bankLimit.fill(0);
  }

  override ioRead(port: number): number {
    if (this.portInvalid(port)) return 0xff;
    switch (port) {
      case 0x3c5:
        return this.readSr();
      case 0x3c6:
        if (++this.hiddenDacLock === 5) {
          this.hiddenDacLock = 0;
          return this.hiddenDacData;
        }
        return 0xff;
      case 0x3c8:
        this.hiddenDacLock = 0;
        return this.dacWriteIndex;
      case 0x3cf:
        return this.readGr(this.grIndex);
      case 0x3b5:
      case 0x3d5:
        return this.readCr(this.crIndex);
      default:
        return super.ioRead(port);
    }
  }

  override ioWrite(port: number, value: number): void {
    if (this.portInvalid(port)) return;
    switch (port) {
      case 0x3c4:
        this.srIndex = value;
        break;
      case 0x3c5:
        this.writeSr(value);
        break;
      case 0x3c6:
        if (this.hiddenDacLock === 4) this.hiddenDacData = value;
        this.hiddenDacLock = 0;
        break;
      case 0x3ce:
        this.grIndex = value;
        break;
      case 0x3cf:
        this.writeGr(this.grIndex, value);
        break;
      case 0x3b5:
      case 0x3d5:
        this.writeCrtc(value);
        break;
      default:
        super.ioWrite(port, value);
    }
  }

  private readSr(): number {
    const i = this.srIndex;
    if ((i & 0x1f) === 0x10 || (i & 0x1f) === 0x11) return this.sr[i & 0x1f]!; // cursor X/Y, low index bits alias
    return i <= 0x1f ? this.sr[i]! : 0xff;
  }

  private writeSr(value: number): void {
    const i = this.srIndex;
    if (i <= 0x04) this.sr[i] = value & SR_MASK[i]!;
    else if (i === 0x06)
      this.sr[i] = (value & 0x17) === 0x12 ? 0x12 : 0x0f; // unlock key
    else if ((i & 0x1f) === 0x10 || (i & 0x1f) === 0x11) this.sr[i & 0x1f] = value;
    else if (i === 0x17) this.sr[i] = (this.sr[i]! & 0x38) | (value & 0xc7);
    else if (i >= 0x07 && i <= 0x1f) this.sr[i] = value;
  }

  readGr(index: number): number {
    if (index === 0x00) return this.shadowGr0;
    if (index === 0x01) return this.shadowGr1;
    return index < 0x3a ? this.gr[index]! : 0xff;
  }

  writeGr(index: number, value: number): void {
    const gr = this.gr;
    if (index <= 0x08 && index !== 0x05) {
      gr[index] = value & GR_MASK[index]!;
      if (index === 0) this.shadowGr0 = value;
      if (index === 1) this.shadowGr1 = value;
    } else if (index === 0x05) {
      gr[index] = value & 0x7f;
    } else if (index >= 0x09 && index <= 0x0b) {
      gr[index] = value;
      this.updateBank(0);
      this.updateBank(1);
    } else if ([0x21, 0x23, 0x25, 0x27].includes(index)) {
      gr[index] = value & 0x1f;
    } else if (index === 0x2a || index === 0x2e) {
      gr[index] = value & 0x3f;
      if (index === 0x2a && gr[0x31]! & BLT_AUTOSTART) gr[0x31] = gr[0x31]! & BLT_IDLE_MASK;
    } else if (index === 0x31) {
      const old = gr[0x31]!;
      gr[0x31] = value;
      // No blit is performed; a started (or reset) blit is over at once, as QEMU's are.
      if ((old & BLT_RESET && !(value & BLT_RESET)) || (!(old & BLT_START) && value & BLT_START)) {
        gr[0x31] = gr[0x31]! & BLT_IDLE_MASK;
      }
    } else if ((index >= 0x10 && index <= 0x15) || (index >= 0x20 && index <= 0x39 && ![0x2b, 0x36, 0x37].includes(index))) {
      gr[index] = value;
    }
  }

  private readCr(index: number): number {
    if (index <= 0x1d || index === 0x22 || index === 0x25 || index === 0x27) return this.cr[index]!;
    if (index === 0x24) return this.arFlipFlop << 7;
    if (index === 0x26) return this.arIndex & 0x3f;
    return 0xff;
  }

  protected override writeCrtc(value: number): void {
    const i = this.crIndex;
    if (i <= 0x18) {
      if (this.cr[0x11]! & 0x80 && i <= 7) {
        if (i === 7) this.cr[7] = (this.cr[7]! & ~0x10) | (value & 0x10);
        return;
      }
      this.cr[i] = value;
    } else if (i <= 0x1d) {
      this.cr[i] = value;
    }
  }

  protected override readPalette(): number {
    if (!(this.sr[0x12]! & SR12_HIDDEN_PALETTE)) return super.readPalette();
    const v = this.hiddenPalette[(this.dacReadIndex & 0x0f) * 3 + this.dacSubIndex]!;
    if (++this.dacSubIndex === 3) {
      this.dacSubIndex = 0;
      this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
    }
    return v;
  }

  protected override writePalette(value: number): void {
    if (!(this.sr[0x12]! & SR12_HIDDEN_PALETTE)) return super.writePalette(value);
    this.dacCache[this.dacSubIndex] = value;
    if (++this.dacSubIndex === 3) {
      this.hiddenPalette.set(this.dacCache, (this.dacWriteIndex & 0x0f) * 3);
      this.dacSubIndex = 0;
      this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
    }
  }

  /** GR9/GRA: bank offsets in 4 KiB (or 16 KiB, GRB bit 5) units; one bank of 64 KiB or two of 32 KiB. */
  private updateBank(bank: number): void {
    const gr = this.gr;
    const dual = (gr[0x0b]! & 0x01) !== 0;
    let offset = dual ? gr[0x09 + bank]! : gr[0x09]!;
    offset = gr[0x0b]! & 0x20 ? offset << 14 : offset << 12;
    let limit = ADDRESS_MASK + 1 <= offset ? 0 : ADDRESS_MASK + 1 - offset;
    if (!dual && bank !== 0) {
      if (limit > 0x8000) {
        offset += 0x8000;
        limit -= 0x8000;
      } else {
        limit = 0;
      }
    }
    this.bankBase[bank] = limit > 0 ? offset : 0;
    this.bankLimit[bank] = limit > 0 ? limit : 0;
  }

  /** The VRAM offset of a linear or banked address after GRB's address shifts. */
  private shifted(offset: number): number {
    const gr0b = this.gr[0x0b]!;
    if ((gr0b & 0x14) === 0x14) offset <<= 4;
    else if (gr0b & 0x02) offset <<= 3;
    return offset & ADDRESS_MASK;
  }

  private bankOffsetOf(addr: number): number {
    const bank = addr >> 15;
    const within = addr & 0x7fff;
    return within < this.bankLimit[bank]! ? this.shifted(within + this.bankBase[bank]!) : -1;
  }

  override memRead(addr: number): number {
    if (!(this.sr[0x07]! & 0x01)) return super.memRead(addr);
    // Memory-mapped BitBLT registers at 0xB8000 (SR17) are not emulated: that range reads 0xff.
    if (addr >= 0x10000) return 0xff;
    const offset = this.bankOffsetOf(addr);
    return offset < 0 ? 0xff : this.vram.getByte(offset);
  }

  override memWrite(addr: number, value: number): void {
    if (!(this.sr[0x07]! & 0x01)) return super.memWrite(addr, value);
    if (addr >= 0x10000) return;
    const offset = this.bankOffsetOf(addr);
    if (offset >= 0) this.extendedWrite(offset, value);
  }

  linearRead(addr: number): number {
    return this.vram.getByte(this.shifted(addr & ADDRESS_MASK));
  }

  linearWrite(addr: number, value: number): void {
    this.extendedWrite(this.shifted(addr & ADDRESS_MASK), value);
  }

  /** A byte store in extended mode: plain, or GR5 write modes 4/5 (colour expansion, GRB bit 2). */
  private extendedWrite(offset: number, value: number): void {
    const mode = this.gr[0x05]! & 7;
    if (mode < 4 || mode > 5 || !(this.gr[0x0b]! & 0x04)) {
      this.vram.setByte(offset, value);
      return;
    }
    const wide = (this.gr[0x0b]! & 0x14) === 0x14;
    for (let x = 0, bits = value; x < 8; x++, bits <<= 1) {
      const set = (bits & 0x80) !== 0;
      if (!set && mode !== 5) continue;
      if (wide) {
        const dst = (offset + 2 * x) & ADDRESS_MASK & ~1;
        this.vram.setByte(dst, set ? this.shadowGr1 : this.shadowGr0);
        this.vram.setByte(dst + 1, set ? this.gr[0x11]! : this.gr[0x10]!);
      } else {
        this.vram.setByte((offset + x) & ADDRESS_MASK, set ? this.shadowGr1 : this.shadowGr0);
      }
    }
  }

  /** BAR 1: the VGA ports from 0x3c0 at 0x000, the BitBLT registers at 0x100. */
  mmioRead(offset: number): number {
    if (offset < 0x100) return this.ioRead(0x3c0 + offset);
    const gr = BLT_MMIO_GR.get(offset - 0x100);
    return gr === undefined ? 0xff : this.readGr(gr);
  }

  mmioWrite(offset: number, value: number): void {
    if (offset < 0x100) return this.ioWrite(0x3c0 + offset, value);
    const gr = BLT_MMIO_GR.get(offset - 0x100);
    if (gr !== undefined) this.writeGr(gr, value);
  }
}

const properties = {
  vgamem_mb: prop(types.uint32, 4, "video memory in MiB: 4, 8 or 16 (the chip still decodes 4 MiB)"),
  blitter: prop(types.bool, true, "the BitBLT engine (blits are not emulated: GR31 shows every blit finished at once, with or without it)"),
  "global-vmstate": prop(
    types.bool,
    false,
    "migrate VRAM under the global name vga.vram (no guest-visible effect; one such display per machine)",
  ),
};

/** The VGA core's registers and the Cirrus extensions: shadow GR0/1, the hidden DAC, the cursor palette, the bank windows. */
const CIRRUS_STATE = describeState<CirrusCore>({
  name: "cirrus-vga",
  version: 1,
  fields: [
    ...VGA_CORE_FIELDS,
    u8("shadowGr0"),
    u8("shadowGr1"),
    u8("hiddenDacLock"),
    u8("hiddenDacData"),
    u8Array("hiddenPalette"),
    u32Array("bankBase"),
    u32Array("bankLimit"),
  ],
});

/**
 * Cirrus Logic CL-GD5446 (QEMU's "cirrus-vga", 1013:00b8): 32 MiB prefetchable BAR 0 (linear
 * VRAM at 0, the BitBLT source aperture at 16 MiB), 4 KiB MMIO BAR 1, and the legacy ports
 * 0x3b0-0x3df and 0xA0000 window, always decoded (QEMU maps them without the command register).
 * Not emulated: rendering, the BitBLT engine's pixel work, hardware cursor drawing, the
 * memory-mapped BitBLT registers in the 0xB8000 window and at the top of the linear aperture.
 */
@pciDriver({
  name: "cirrus-vga",
  description: "Cirrus CLGD 54xx VGA",
  category: "display",
  properties,
  romfile: "vgabios-cirrus.bin",
  hotpluggable: false,
})
export class CirrusVga extends PciDevice {
  readonly vga: CirrusCore;
  private readonly ports: Region;
  private readonly lowMemory: Region;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(MACHINE) machine: Machine,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(MEMORY_SPACE) private readonly memory: AddressSpace,
  ) {
    super({ vendorId: 0x1013, deviceId: 0x00b8, classCode: 0x0300 }, props);
    if (![4, 8, 16].includes(props.vgamem_mb)) {
      throw new MachbusError("bad-property-value", `Invalid cirrus_vga ram size '${props.vgamem_mb}'`);
    }
    checkGlobalVmstate(machine, props["global-vmstate"]);
    const vga = (this.vga = new CirrusCore(new Vram(props.vgamem_mb * MiB)));
    this.function.keepState(CIRRUS_STATE, vga);
    this.function.keepState(VRAM_STATE, vga.vram);
    const owner = this.driver;
    const bar0 = this.defineBar(0, { kind: "mem32", prefetchable: true, size: BAR0_SIZE, name: "cirrus-pci-bar0" });
    // Between the apertures the BAR is a bare container: QEMU reads 0 there.
    bar0.contents.map(new Region("cirrus-pci-bar0", BAR0_SIZE, { read: () => 0, write: () => {} }, { owner }), 0, -1);
    bar0.contents.map(
      new Region(
        "cirrus-linear-io",
        vga.vram.size,
        {
          read: (offset) => vga.linearRead(offset),
          write: (offset, _size, value) => vga.linearWrite(offset, value),
        },
        { implMax: 1, owner },
      ),
      0,
    );
    // CPU-to-screen blit source: nothing is ever waiting for data here.
    bar0.contents.map(
      new Region("cirrus-bitblt-mmio", BITBLT_APERTURE_SIZE, { read: () => 0xff, write: () => {} }, { implMax: 1, owner }),
      BITBLT_APERTURE,
    );
    this.defineBar(1, {
      kind: "mem32",
      size: MMIO_SIZE,
      name: "cirrus-mmio",
      ops: { read: (offset) => vga.mmioRead(offset), write: (offset, _size, value) => vga.mmioWrite(offset, value) },
      regionOptions: { implMax: 1, owner },
    });
    this.ports = new Region(
      "cirrus-io",
      PORTS_SIZE,
      {
        read: (offset) => vga.ioRead(PORTS_BASE + offset),
        write: (offset, _size, value) => vga.ioWrite(PORTS_BASE + offset, value),
      },
      { implMax: 1, owner },
    );
    this.lowMemory = vga.lowMemoryRegion("cirrus-low-memory", owner);
  }

  override plugged(): void {
    this.io.map(this.ports, PORTS_BASE);
    this.memory.map(this.lowMemory, 0xa0000, 1);
  }

  override unplugging(): void {
    this.io.unmap(this.ports);
    this.memory.unmap(this.lowMemory);
  }

  protected override resetRegisters(): void {
    this.vga.reset();
  }
}
