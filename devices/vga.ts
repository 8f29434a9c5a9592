import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { Region, type AddressSpace, type RegionOps } from "../src/memory/address-space.js";
import { pciDriver } from "../src/machine/drivers.js";
import type { Machine } from "../src/machine/machine.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, IO_SPACE, MACHINE, MEMORY_SPACE } from "../src/machine/tokens.js";
import { PCI_REVISION_ID } from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { bool, describeState, i32, pages, u16, u16Array, u32, u8, u8Array, type Field } from "../src/state/description.js";

// ---- VGA registers shared by the PCI displays (QEMU's vga.c) ----

const MiB = 1024 * 1024;
const LEGACY_MEMORY_BASE = 0xa0000;
const LEGACY_MEMORY_SIZE = 0x20000;
const VBE_PORT_BASE = 0x1ce;

/** Bits a sequencer / graphics controller register keeps (QEMU's sr_mask and gr_mask). */
const SR_MASK = [0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff];
const GR_MASK = [0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0];
/** Attribute controller registers 0x00-0x14. */
const AR_COUNT = 21;
const MSR_COLOR = 0x01;
/** Status register 1: vertical retrace and display enable, toggled on every read to fool polling. */
const ST01_TOGGLE = 0x09;

const SR_PLANE_WRITE = 2;
const SR_MEMORY_MODE = 4;
const SR04_CHAIN4 = 0x08;
const GR_SR_VALUE = 0;
const GR_SR_ENABLE = 1;
const GR_COMPARE_VALUE = 2;
const GR_DATA_ROTATE = 3;
const GR_PLANE_READ = 4;
const GR_MODE = 5;
const GR_MISC = 6;
const GR_COMPARE_MASK = 7;
const GR_BIT_MASK = 8;
const CR_H_DISP = 0x01;
const CR_OVERFLOW = 0x07;
const CR_MAX_SCAN = 0x09;
const CR_V_SYNC_END = 0x11;
const CR11_LOCK_CR0_CR7 = 0x80;
const CR_V_DISP_END = 0x12;
const CR_OFFSET = 0x13;
const CR_MODE = 0x17;
const CR_LINE_COMPARE = 0x18;

/** Bochs VBE "dispi" registers behind ports 0x1ce (index) / 0x1cf (data). */
export const VBE = {
  ID: 0,
  XRES: 1,
  YRES: 2,
  BPP: 3,
  ENABLE: 4,
  BANK: 5,
  VIRT_WIDTH: 6,
  VIRT_HEIGHT: 7,
  X_OFFSET: 8,
  Y_OFFSET: 9,
  /** Index 10 is past the register file: it reads the VRAM size in 64 KiB units. */
  VIDEO_MEMORY_64K: 10,
} as const;
const VBE_REG_COUNT = 10;
const VBE_ID5 = 0xb0c5;
const VBE_IDS = [0xb0c0, 0xb0c1, 0xb0c2, 0xb0c3, 0xb0c4, 0xb0c5];
const VBE_ENABLED = 0x01;
const VBE_GETCAPS = 0x02;
const VBE_NOCLEARMEM = 0x80;
const VBE_MAX_XRES = 16000;
const VBE_MAX_YRES = 12000;
const VBE_MAX_BPP = 32;

/** QEMU's mask16: a byte per set bit of a 4-bit plane mask. */
const expandPlanes = (m: number): number =>
  ((m & 1 ? 0xff : 0) | (m & 2 ? 0xff00 : 0) | (m & 4 ? 0xff0000 : 0) | (m & 8 ? 0xff000000 : 0)) >>> 0;

const PAGE_SHIFT = 16;
const PAGE_SIZE = 1 << PAGE_SHIFT;

/**
 * Video RAM, little endian, taking any access size (QEMU's "vga.vram" RAM region). Pages are
 * allocated on the first non-zero write, so a 512 MiB framebuffer of zeros costs nothing.
 */
export class Vram implements RegionOps {
  /** 64 KiB pages, allocated on first non-zero write. */
  readonly pages: (Uint8Array | undefined)[];

  constructor(readonly size: number) {
    this.pages = new Array<Uint8Array | undefined>(Math.ceil(size / PAGE_SIZE));
  }

  getByte(addr: number): number {
    return this.pages[addr >>> PAGE_SHIFT]?.[addr & (PAGE_SIZE - 1)] ?? 0;
  }

  setByte(addr: number, value: number): void {
    let page = this.pages[addr >>> PAGE_SHIFT];
    if (!page) {
      if ((value & 0xff) === 0) return;
      page = this.pages[addr >>> PAGE_SHIFT] = new Uint8Array(PAGE_SIZE);
    }
    page[addr & (PAGE_SIZE - 1)] = value;
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.getByte(offset + i);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.setByte(offset + i, value >>> (8 * i));
  }

  clear(from: number, length: number): void {
    for (let a = from; a < Math.min(from + length, this.size); a++) this.setByte(a, 0);
  }
}

/**
 * QEMU's portio semantics for a block of ports served `width` bytes at a time: a word access to
 * byte ports is two byte accesses, any other size finds no port and reads all ones; an access
 * running past the block is clipped there (as QEMU's memory core does), the rest reading all ones.
 */
export function portBlock(
  name: string,
  length: number,
  width: 1 | 2,
  read: (offset: number) => number,
  write: (offset: number, value: number) => void,
  owner: string,
): Region {
  const mask = width === 1 ? 0xff : 0xffff;
  // Byte ports take a word as two bytes; anything else finds no port and decodes nothing.
  const readPiece = (offset: number, size: number): number => {
    if (size === width) return read(offset) & mask;
    if (width === 1 && size === 2) return (read(offset) & 0xff) | ((offset + 1 < length ? read(offset + 1) & 0xff : 0xff) << 8);
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  };
  const writePiece = (offset: number, size: number, value: number): void => {
    if (size === width) write(offset, value & mask);
    else if (width === 1 && size === 2) {
      write(offset, value & 0xff);
      if (offset + 1 < length) write(offset + 1, (value >>> 8) & 0xff);
    }
  };
  return new Region(
    name,
    length,
    {
      read(offset, size) {
        if (offset + size <= length) return readPiece(offset, size);
        const inside = length - offset >= 2 ? 2 : 1;
        return (readPiece(offset, inside) | (0xffffffff << (8 * inside))) >>> 0;
      },
      write(offset, size, value) {
        writePiece(offset, offset + size <= length ? size : length - offset >= 2 ? 2 : 1, value);
      },
    },
    { unaligned: true, owner },
  );
}

/**
 * The VGA core every PCI display shares (QEMU's VGACommonState): sequencer, graphics and CRT
 * controllers, attribute controller, DAC, the 0xA0000 window onto VRAM and the Bochs VBE
 * registers. Register values follow vga.c; nothing is rendered.
 */
export class VgaCore {
  sr = new Uint8Array(256);
  /** Sequencer values the VBE mode overrides while it is enabled (QEMU's sr_vbe). */
  srVbe = new Uint8Array(256);
  gr = new Uint8Array(256);
  cr = new Uint8Array(256);
  ar = new Uint8Array(AR_COUNT);
  srIndex = 0;
  grIndex = 0;
  crIndex = 0;
  arIndex = 0;
  arFlipFlop = 0;
  msr = 0;
  fcr = 0;
  st00 = 0;
  st01 = 0;
  dacState = 0;
  dacSubIndex = 0;
  dacReadIndex = 0;
  dacWriteIndex = 0;
  dacCache = new Uint8Array(3);
  palette = new Uint8Array(768);
  latch = 0;
  bankOffset = 0;
  vbeIndex = 0;
  vbeRegs = new Uint16Array(VBE_REG_COUNT);
  vbeLineOffset = 0;
  vbeStartAddr = 0;
  vbeBankMask = 0;

  constructor(readonly vram: Vram) {}

  reset(): void {
    for (const a of [this.sr, this.srVbe, this.gr, this.cr, this.ar, this.dacCache, this.palette]) a.fill(0);
    this.srIndex = this.grIndex = this.crIndex = this.arIndex = this.arFlipFlop = 0;
    this.msr = this.fcr = this.st00 = this.st01 = 0;
    this.dacState = this.dacSubIndex = this.dacReadIndex = this.dacWriteIndex = 0;
    this.bankOffset = 0;
    this.vbeIndex = 0;
    this.vbeRegs.fill(0);
    this.vbeRegs[VBE.ID] = VBE_ID5;
    this.vbeStartAddr = this.vbeLineOffset = 0;
    this.vbeBankMask = (this.vram.size >>> 16) - 1;
  }

  get vbeEnabled(): boolean {
    return (this.vbeRegs[VBE.ENABLE]! & VBE_ENABLED) !== 0;
  }

  /** A sequencer register as memory decoding sees it. */
  protected seq(index: number): number {
    return this.vbeEnabled ? this.srVbe[index]! : this.sr[index]!;
  }

  /** Ports 0x3b0-0x3bf answer in monochrome mode, 0x3d0-0x3df in colour mode. */
  protected portInvalid(port: number): boolean {
    return this.msr & MSR_COLOR ? port >= 0x3b0 && port <= 0x3bf : port >= 0x3d0 && port <= 0x3df;
  }

  protected retrace(): number {
    this.st01 ^= ST01_TOGGLE;
    return this.st01;
  }

  /** A byte read of VGA port `port` (0x3b0-0x3df). */
  ioRead(port: number): number {
    if (this.portInvalid(port)) return 0xff;
    switch (port) {
      case 0x3c0:
        return this.arFlipFlop === 0 ? this.arIndex : 0;
      case 0x3c1:
        return (this.arIndex & 0x1f) < AR_COUNT ? this.ar[this.arIndex & 0x1f]! : 0;
      case 0x3c2:
        return this.st00;
      case 0x3c4:
        return this.srIndex;
      case 0x3c5:
        return this.sr[this.srIndex]!;
      case 0x3c7:
        return this.dacState;
      case 0x3c8:
        return this.dacWriteIndex;
      case 0x3c9:
        return this.readPalette();
      case 0x3ca:
        return this.fcr;
      case 0x3cc:
        return this.msr;
      case 0x3ce:
        return this.grIndex;
      case 0x3cf:
        return this.gr[this.grIndex]!;
      case 0x3b4:
      case 0x3d4:
        return this.crIndex;
      case 0x3b5:
      case 0x3d5:
        return this.cr[this.crIndex]!;
      case 0x3ba:
      case 0x3da:
        this.arFlipFlop = 0;
        return this.retrace();
      default:
        return 0;
    }
  }

  ioWrite(port: number, value: number): void {
    if (this.portInvalid(port)) return;
    switch (port) {
      case 0x3c0:
        this.writeAttribute(value);
        break;
      case 0x3c2:
        this.msr = value & ~0x10;
        break;
      case 0x3c4:
        this.srIndex = value & 7;
        break;
      case 0x3c5:
        this.sr[this.srIndex] = value & SR_MASK[this.srIndex]!;
        break;
      case 0x3c7:
        this.dacReadIndex = value;
        this.dacSubIndex = 0;
        this.dacState = 3;
        break;
      case 0x3c8:
        this.dacWriteIndex = value;
        this.dacSubIndex = 0;
        this.dacState = 0;
        break;
      case 0x3c9:
        this.writePalette(value);
        break;
      case 0x3ce:
        this.grIndex = value & 0x0f;
        break;
      case 0x3cf:
        this.gr[this.grIndex] = value & GR_MASK[this.grIndex]!;
        this.vbeUpdateVgaRegs();
        break;
      case 0x3b4:
      case 0x3d4:
        this.crIndex = value;
        break;
      case 0x3b5:
      case 0x3d5:
        this.writeCrtc(value);
        break;
      case 0x3ba:
      case 0x3da:
        this.fcr = value & 0x10;
        break;
    }
  }

  protected writeAttribute(value: number): void {
    if (this.arFlipFlop === 0) {
      this.arIndex = value & 0x3f;
    } else {
      const index = this.arIndex & 0x1f;
      if (index <= 0x0f) this.ar[index] = value & 0x3f;
      else if (index === 0x10) this.ar[index] = value & ~0x10;
      else if (index === 0x11) this.ar[index] = value;
      else if (index === 0x12) this.ar[index] = value & ~0xc0;
      else if (index === 0x13 || index === 0x14) this.ar[index] = value & ~0xf0;
    }
    this.arFlipFlop ^= 1;
  }

  protected readPalette(): number {
    const v = this.palette[this.dacReadIndex * 3 + this.dacSubIndex]!;
    if (++this.dacSubIndex === 3) {
      this.dacSubIndex = 0;
      this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
    }
    return v;
  }

  protected writePalette(value: number): void {
    this.dacCache[this.dacSubIndex] = value;
    if (++this.dacSubIndex === 3) {
      this.palette.set(this.dacCache, this.dacWriteIndex * 3);
      this.dacSubIndex = 0;
      this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
    }
  }

  protected writeCrtc(value: number): void {
    // CR11 bit 7 write-protects CR0-CR7, except CR7 bit 4.
    if (this.cr[CR_V_SYNC_END]! & CR11_LOCK_CR0_CR7 && this.crIndex <= CR_OVERFLOW) {
      if (this.crIndex === CR_OVERFLOW) {
        this.cr[CR_OVERFLOW] = (this.cr[CR_OVERFLOW]! & ~0x10) | (value & 0x10);
        this.vbeUpdateVgaRegs();
      }
      return;
    }
    this.cr[this.crIndex] = value;
    this.vbeUpdateVgaRegs();
  }

  // ---- the 0xA0000-0xBFFFF window (QEMU's vga_mem_readb / vga_mem_writeb) ----

  /** The VRAM offset a window address decodes to in the current memory map, or -1. */
  private windowOffset(addr: number): number {
    switch ((this.gr[GR_MISC]! >> 2) & 3) {
      case 0:
        return addr;
      case 1:
        return addr < 0x10000 ? addr + this.bankOffset : -1;
      case 2:
        return addr >= 0x10000 && addr < 0x18000 ? addr - 0x10000 : -1;
      default:
        return addr >= 0x18000 ? addr - 0x18000 : -1;
    }
  }

  memRead(addr: number): number {
    const offset = this.windowOffset(addr & 0x1ffff);
    if (offset < 0) return 0xff;
    const vram = this.vram;
    if (this.seq(SR_MEMORY_MODE) & SR04_CHAIN4) return vram.getByte(offset);
    if (this.gr[GR_MODE]! & 0x10) {
      // odd/even (text mode) mapping
      const plane = (this.gr[GR_PLANE_READ]! & 2) | (offset & 1);
      const a = ((offset & ~1) << 1) | plane;
      return a < vram.size ? vram.getByte(a) : 0xff;
    }
    if (offset * 4 >= vram.size) return 0xff;
    this.latch = vram.read(offset * 4, 4);
    if (!(this.gr[GR_MODE]! & 0x08)) return (this.latch >>> (8 * (this.gr[GR_PLANE_READ]! & 3))) & 0xff;
    // read mode 1: colour compare
    let v = (this.latch ^ expandPlanes(this.gr[GR_COMPARE_VALUE]!)) & expandPlanes(this.gr[GR_COMPARE_MASK]!);
    v |= v >>> 16;
    v |= v >>> 8;
    return ~v & 0xff;
  }

  memWrite(addr: number, value: number): void {
    const offset = this.windowOffset(addr & 0x1ffff);
    if (offset < 0) return;
    const vram = this.vram;
    if (this.seq(SR_MEMORY_MODE) & SR04_CHAIN4) {
      if (this.seq(SR_PLANE_WRITE) & (1 << (offset & 3))) vram.setByte(offset, value);
      return;
    }
    if (this.gr[GR_MODE]! & 0x10) {
      const plane = (this.gr[GR_PLANE_READ]! & 2) | (offset & 1);
      if (!(this.seq(SR_PLANE_WRITE) & (1 << plane))) return;
      const a = ((offset & ~1) << 1) | plane;
      if (a < vram.size) vram.setByte(a, value);
      return;
    }
    let v: number;
    let bitMask = 0;
    const rotate = this.gr[GR_DATA_ROTATE]! & 7;
    switch (this.gr[GR_MODE]! & 3) {
      case 0: {
        v = ((value >> rotate) | (value << (8 - rotate))) & 0xff;
        v = (v | (v << 8) | (v << 16) | (v << 24)) >>> 0;
        const setMask = expandPlanes(this.gr[GR_SR_ENABLE]!);
        v = ((v & ~setMask) | (expandPlanes(this.gr[GR_SR_VALUE]!) & setMask)) >>> 0;
        bitMask = this.gr[GR_BIT_MASK]!;
        break;
      }
      case 1:
        v = this.latch;
        break;
      case 2:
        v = expandPlanes(value & 0x0f);
        bitMask = this.gr[GR_BIT_MASK]!;
        break;
      default: {
        const rotated = (value >> rotate) | (value << (8 - rotate));
        bitMask = this.gr[GR_BIT_MASK]! & rotated;
        v = expandPlanes(this.gr[GR_SR_VALUE]!);
      }
    }
    if ((this.gr[GR_MODE]! & 3) !== 1) {
      switch (this.gr[GR_DATA_ROTATE]! >> 3) {
        case 1:
          v &= this.latch;
          break;
        case 2:
          v |= this.latch;
          break;
        case 3:
          v ^= this.latch;
          break;
      }
      bitMask &= 0xff;
      bitMask = (bitMask | (bitMask << 8) | (bitMask << 16) | (bitMask << 24)) >>> 0;
      v = ((v & bitMask) | (this.latch & ~bitMask)) >>> 0;
    }
    if (offset * 4 >= vram.size) return;
    const writeMask = expandPlanes(this.seq(SR_PLANE_WRITE));
    vram.write(offset * 4, 4, ((vram.read(offset * 4, 4) & ~writeMask) | (v & writeMask)) >>> 0);
  }

  // ---- Bochs VBE ----

  vbeReadData(): number {
    const index = this.vbeIndex;
    if (index < VBE_REG_COUNT) {
      if (this.vbeRegs[VBE.ENABLE]! & VBE_GETCAPS) {
        if (index === VBE.XRES) return VBE_MAX_XRES;
        if (index === VBE.YRES) return VBE_MAX_YRES;
        if (index === VBE.BPP) return VBE_MAX_BPP;
      }
      return this.vbeRegs[index]!;
    }
    return index === VBE.VIDEO_MEMORY_64K ? (this.vram.size / 0x10000) & 0xffff : 0;
  }

  vbeWriteData(value: number): void {
    const r = this.vbeRegs;
    switch (this.vbeIndex) {
      case VBE.ID:
        if (VBE_IDS.includes(value)) r[VBE.ID] = value;
        break;
      case VBE.XRES:
      case VBE.YRES:
      case VBE.BPP:
      case VBE.VIRT_WIDTH:
      case VBE.X_OFFSET:
      case VBE.Y_OFFSET:
        r[this.vbeIndex] = value;
        this.vbeFixupRegs();
        this.vbeUpdateVgaRegs();
        break;
      case VBE.BANK:
        r[VBE.BANK] = value & this.vbeBankMask;
        this.bankOffset = r[VBE.BANK]! << 16;
        break;
      case VBE.ENABLE:
        if (value & VBE_ENABLED && !(r[VBE.ENABLE]! & VBE_ENABLED)) {
          r[VBE.VIRT_WIDTH] = r[VBE.X_OFFSET] = r[VBE.Y_OFFSET] = 0;
          r[VBE.ENABLE] = r[VBE.ENABLE]! | VBE_ENABLED;
          this.vbeFixupRegs();
          this.vbeUpdateVgaRegs();
          if (!(value & VBE_NOCLEARMEM)) this.vram.clear(0, r[VBE.YRES]! * this.vbeLineOffset);
        } else {
          this.bankOffset = 0;
        }
        r[VBE.ENABLE] = value;
        break;
    }
  }

  /** Clamps the mode registers to what the VRAM can show (QEMU's vbe_fixup_regs). */
  private vbeFixupRegs(): void {
    if (!this.vbeEnabled) return;
    const r = this.vbeRegs;
    let bits = r[VBE.BPP]!;
    if (bits === 15) bits = 16;
    else if (![4, 8, 16, 24, 32].includes(bits)) bits = r[VBE.BPP] = 8;
    r[VBE.XRES] = r[VBE.XRES]! & ~7;
    if (r[VBE.XRES] === 0) r[VBE.XRES] = 8;
    if (r[VBE.XRES]! > VBE_MAX_XRES) r[VBE.XRES] = VBE_MAX_XRES;
    r[VBE.VIRT_WIDTH] = r[VBE.VIRT_WIDTH]! & ~7;
    if (r[VBE.VIRT_WIDTH]! > VBE_MAX_XRES) r[VBE.VIRT_WIDTH] = VBE_MAX_XRES;
    if (r[VBE.VIRT_WIDTH]! < r[VBE.XRES]!) r[VBE.VIRT_WIDTH] = r[VBE.XRES]!;
    const lineLength = Math.floor((r[VBE.VIRT_WIDTH]! * bits) / 8);
    const maxY = Math.floor(this.vram.size / lineLength);
    if (r[VBE.YRES] === 0) r[VBE.YRES] = 1;
    if (r[VBE.YRES]! > VBE_MAX_YRES) r[VBE.YRES] = VBE_MAX_YRES;
    if (r[VBE.YRES]! > maxY) r[VBE.YRES] = maxY;
    if (r[VBE.X_OFFSET]! > VBE_MAX_XRES) r[VBE.X_OFFSET] = VBE_MAX_XRES;
    if (r[VBE.Y_OFFSET]! > VBE_MAX_YRES) r[VBE.Y_OFFSET] = VBE_MAX_YRES;
    let offset = Math.floor((r[VBE.X_OFFSET]! * bits) / 8) + r[VBE.Y_OFFSET]! * lineLength;
    if (offset + r[VBE.YRES]! * lineLength > this.vram.size) {
      r[VBE.Y_OFFSET] = 0;
      offset = Math.floor((r[VBE.X_OFFSET]! * bits) / 8);
      if (offset + r[VBE.YRES]! * lineLength > this.vram.size) {
        r[VBE.X_OFFSET] = 0;
        offset = 0;
      }
    }
    r[VBE.VIRT_HEIGHT] = maxY;
    this.vbeLineOffset = lineLength;
    this.vbeStartAddr = Math.floor(offset / 4);
  }

  /** While VBE is enabled it owns the graphics mode registers (QEMU's vbe_update_vgaregs). */
  private vbeUpdateVgaRegs(): void {
    if (!this.vbeEnabled) return;
    const { gr, cr, srVbe } = this;
    gr[GR_MISC] = (gr[GR_MISC]! & ~0x0c) | 0x04 | 0x01;
    cr[CR_MODE] = cr[CR_MODE]! | 3;
    cr[CR_OFFSET] = this.vbeLineOffset >> 3;
    cr[CR_H_DISP] = (this.vbeRegs[VBE.XRES]! >> 3) - 1;
    const h = this.vbeRegs[VBE.YRES]! - 1;
    cr[CR_V_DISP_END] = h;
    cr[CR_OVERFLOW] = (cr[CR_OVERFLOW]! & ~0x42) | ((h >> 7) & 0x02) | ((h >> 3) & 0x40);
    cr[CR_LINE_COMPARE] = 0xff;
    cr[CR_OVERFLOW] = cr[CR_OVERFLOW]! | 0x10;
    cr[CR_MAX_SCAN] = cr[CR_MAX_SCAN]! | 0x40;
    let shiftControl: number;
    if (this.vbeRegs[VBE.BPP] === 4) {
      shiftControl = 0;
      srVbe[1] = srVbe[1]! & ~8;
    } else {
      shiftControl = 2;
      srVbe[SR_MEMORY_MODE] = srVbe[SR_MEMORY_MODE]! | SR04_CHAIN4;
      srVbe[SR_PLANE_WRITE] = srVbe[SR_PLANE_WRITE]! | 0x0f;
    }
    gr[GR_MODE] = (gr[GR_MODE]! & ~0x60) | (shiftControl << 5);
    cr[CR_MAX_SCAN] = cr[CR_MAX_SCAN]! & ~0x9f;
  }

  // ---- regions ----

  /** The low-memory window at 0xA0000 (byte accesses; wider ones are split). */
  lowMemoryRegion(name: string, owner: string): Region {
    return new Region(
      name,
      LEGACY_MEMORY_SIZE,
      { read: (offset) => this.memRead(offset), write: (offset, _size, value) => this.memWrite(offset, value) },
      { implMax: 1, owner },
    );
  }
}

/**
 * VRAM size in MiB as QEMU's vga_common_init sizes it: clamped to 1-512, rounded up to a power
 * of two.
 */
export function vgaVramMiB(requested: number): number {
  const clamped = Math.min(Math.max(requested, 1), 512);
  let mb = 1;
  while (mb < clamped) mb *= 2;
  return mb;
}

/** QEMU keeps one "global-vmstate" display per machine (its VRAM is migrated as plain "vga.vram"). */
export function checkGlobalVmstate(machine: Machine, wanted: boolean): void {
  if (!wanted) return;
  if (machine.devices().some((p) => p.props["global-vmstate"] === true)) {
    throw new MachbusError("bad-property-value", "Only one global VGA device can be used at a time");
  }
}

// ---- the std VGA's MMIO BAR ----

const MMIO_SIZE = 0x1000;
const EDID_OFFSET = 0x000;
const IOPORTS_OFFSET = 0x400;
const IOPORTS_SIZE = 0x20;
const BOCHS_OFFSET = 0x500;
const BOCHS_SIZE = 0x16;
const QEXT_OFFSET = 0x600;
const QEXT_SIZE = 8;
const QEXT_LITTLE_ENDIAN = 0x1e1e1e1e;
const QEXT_BIG_ENDIAN = 0xbebebebe;

/** EDID modes QEMU advertises: CEA VICs (`dta`), established timing bits, additional standard timings 3. */
const EDID_MODES: ReadonlyArray<{ x: number; y: number; byte?: number; xtra3?: number; bit?: number; dta?: number }> = [
  { x: 5120, y: 2160, dta: 125 },
  { x: 4096, y: 2160, dta: 101 },
  { x: 3840, y: 2160, dta: 96 },
  { x: 2560, y: 1080, dta: 89 },
  { x: 2048, y: 1152 },
  { x: 1920, y: 1080, dta: 31 },
  { x: 3840, y: 2160, dta: 97 },
  { x: 1920, y: 1200, xtra3: 10, bit: 0 },
  { x: 1600, y: 1200, xtra3: 9, bit: 2 },
  { x: 1680, y: 1050, xtra3: 9, bit: 5 },
  { x: 1440, y: 900, xtra3: 8, bit: 5 },
  { x: 1280, y: 1024, xtra3: 7, bit: 1 },
  { x: 1280, y: 960, xtra3: 7, bit: 3 },
  { x: 1280, y: 768, xtra3: 7, bit: 6 },
  { x: 1920, y: 1440, xtra3: 11, bit: 5 },
  { x: 1856, y: 1392, xtra3: 10, bit: 3 },
  { x: 1792, y: 1344, xtra3: 10, bit: 5 },
  { x: 1440, y: 1050, xtra3: 8, bit: 1 },
  { x: 1360, y: 768, xtra3: 8, bit: 7 },
  { x: 1024, y: 768, byte: 36, bit: 3 },
  { x: 800, y: 600, byte: 35, bit: 0 },
  { x: 640, y: 480, byte: 35, bit: 5 },
];
const EDID_SIZE = 0x180;

export interface EdidInfo {
  xres: number;
  yres: number;
  xmax: number;
  ymax: number;
  /** mHz; 0 means 75 Hz. */
  refreshRate: number;
}

/**
 * The EDID QEMU 7.2 builds for a display (qemu_edid_generate into 384 bytes): base block, a CEA
 * extension listing the big modes, and a DisplayID block when the preferred mode is 4096 or
 * more wide or high. Monitor "QEMU Monitor" by RHT, 100 dpi, preferred mode xres x yres.
 */
export function generateEdid(info: EdidInfo): Uint8Array {
  const edid = new Uint8Array(EDID_SIZE);
  const dta = 128;
  const refresh = info.refreshRate || 75000;
  const { xres, yres } = info;
  const large = xres >= 4096 || yres >= 4096;
  const mm = (res: number): number => Math.floor(Math.floor((res * 254) / 10) / 100);
  const widthMm = mm(xres);
  const heightMm = mm(yres);
  const timings = (): { xfront: number; xsync: number; xblank: number; yfront: number; ysync: number; yblank: number; clock: number } => {
    const xblank = Math.floor((xres * 35) / 100);
    const yblank = Math.floor((yres * 35) / 1000);
    return {
      xfront: Math.floor((xres * 25) / 100),
      xsync: Math.floor((xres * 3) / 100),
      xblank,
      yfront: Math.floor((yres * 5) / 1000),
      ysync: Math.floor((yres * 5) / 1000),
      yblank,
      clock: Number((BigInt(refresh) * BigInt(xres + xblank) * BigInt(yres + yblank)) / 10000000n),
    };
  };
  const checksum = (at: number, len: number): void => {
    let sum = 0;
    for (let i = 0; i < len; i++) sum += edid[at + i]!;
    if (sum & 0xff) edid[at + len] = 0x100 - (sum & 0xff);
  };
  edid[126] = 1;
  edid.set([0x02, 0x03, 0x05, 0x00, 0x40], dta);
  const did = large ? 256 : -1;
  if (large) {
    edid[126]++;
    edid.set([0x70, 0x13, 4, 0x03], did);
    checksum(did + 1, 8);
  }
  edid.set([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x49, 0x14, 0x34, 0x12, 0, 0, 0, 0, 42, 2014 - 1990, 1, 4, 0xa5]);
  edid[21] = Math.floor(widthMm / 10);
  edid[22] = Math.floor(heightMm / 10);
  edid[23] = 220 - 100; // gamma 2.2
  edid[24] = 0x06; // sRGB, preferred timing
  // sRGB chromaticity in 10-bit fixed point (float arithmetic, as QEMU's edid_to_10bit)
  const c = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329].map((v) => Math.trunc(Math.fround(Math.fround(v) * 1024 + 0.5)));
  edid[25] = ((c[0]! & 3) << 6) | ((c[1]! & 3) << 4) | ((c[2]! & 3) << 2) | (c[3]! & 3);
  edid[26] = ((c[4]! & 3) << 6) | ((c[5]! & 3) << 4) | ((c[6]! & 3) << 2) | (c[7]! & 3);
  for (let i = 0; i < 8; i++) edid[27 + i] = c[i]! >> 2;

  const next = (desc: number): number => {
    if (desc < 0) return -1;
    if (desc + 36 < 127) return desc + 18;
    if (desc < 127) return dta + edid[dta + 2]!;
    return desc + 36 < dta + 127 ? desc + 18 : -1;
  };
  const descType = (desc: number, type: number): void => edid.set([0, 0, 0, type, 0], desc);
  let desc = 54;
  if (!large) {
    // detailed timing descriptor: the preferred mode (12 bits of resolution only)
    const t = timings();
    edid[desc] = t.clock & 0xff;
    edid[desc + 1] = (t.clock >>> 8) & 0xff;
    edid.set(
      [
        xres & 0xff,
        t.xblank & 0xff,
        ((xres & 0xf00) >> 4) | ((t.xblank & 0xf00) >> 8),
        yres & 0xff,
        t.yblank & 0xff,
        ((yres & 0xf00) >> 4) | ((t.yblank & 0xf00) >> 8),
        t.xfront & 0xff,
        t.xsync & 0xff,
        ((t.yfront & 0xf) << 4) | (t.ysync & 0xf),
        ((t.xfront & 0x300) >> 2) | ((t.xsync & 0x300) >> 4) | ((t.yfront & 0x30) >> 2) | ((t.ysync & 0x30) >> 4),
        widthMm & 0xff,
        heightMm & 0xff,
        ((widthMm & 0xf00) >> 4) | ((heightMm & 0xf00) >> 8),
        0,
        0,
        0x18,
      ],
      desc + 2,
    );
    desc = next(desc);
  }
  const xtra3 = desc;
  descType(xtra3, 0xf7);
  edid[xtra3 + 5] = 10;
  desc = next(desc);
  let std = 38;
  const stdMode = (at: number, x: number, y: number): boolean => {
    let aspect: number;
    if (x * 10 === y * 16) aspect = 0;
    else if (x * 3 === y * 4) aspect = 1;
    else if (x * 4 === y * 5) aspect = 2;
    else if (x * 9 === y * 16) aspect = 3;
    else return false;
    const code = Math.floor(x / 8) - 31;
    if (code < 0 || code > 255) return false;
    edid[at] = code;
    edid[at + 1] = aspect << 6;
    return true;
  };
  for (const mode of EDID_MODES) {
    if ((info.xmax && mode.x > info.xmax) || (info.ymax && mode.y > info.ymax)) continue;
    if (mode.byte) edid[mode.byte] = edid[mode.byte]! | (1 << mode.bit!);
    else if (std < 54) {
      if (stdMode(std, mode.x, mode.y)) std += 2;
    } else if (mode.xtra3) edid[xtra3 + mode.xtra3] = edid[xtra3 + mode.xtra3]! | (1 << mode.bit!);
    if (mode.dta) {
      edid[dta + edid[dta + 2]!] = mode.dta;
      edid[dta + 2] = edid[dta + 2]! + 1;
      edid[dta + 4] = edid[dta + 4]! + 1;
    }
  }
  for (; std < 54; std += 2) edid.set([0x01, 0x01], std);
  // range limits: 50-125 Hz, 30-160 kHz, 2550 MHz
  descType(desc, 0xfd);
  edid.set([50, 125, 30, 160, 255, 0x01, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20], desc + 5);
  desc = next(desc);
  if (desc >= 0) {
    descType(desc, 0xfc);
    edid.fill(0x20, desc + 5, desc + 18);
    edid.set(
      [..."QEMU Monitor"].map((ch) => ch.charCodeAt(0)),
      desc + 5,
    );
    edid[desc + 17] = 0x0a;
    desc = next(desc);
  }
  for (; desc >= 0; desc = next(desc)) descType(desc, 0x10);
  if (large) {
    const t = timings();
    edid.set([0x70, 0x13, 23, 0x03, 0, 0x03, 0x00, 0x14, t.clock & 0xff, (t.clock >>> 8) & 0xff, (t.clock >>> 16) & 0xff, 0x88], did);
    const words = [xres, t.xblank, t.xfront, t.xsync, yres, t.yblank, t.yfront, t.ysync];
    words.forEach((w, i) => {
      edid[did + 12 + 2 * i] = (w - 1) & 0xff;
      edid[did + 13 + 2 * i] = ((w - 1) >> 8) & 0xff;
    });
    checksum(did + 1, 27);
  }
  checksum(0, 127);
  checksum(dta, 127);
  if (large) checksum(did, 127);
  return edid;
}

const properties = {
  vgamem_mb: prop(types.uint32, 16, "video memory in MiB (BAR 0), clamped to 1-512 and rounded up to a power of two"),
  mmio: prop(types.bool, true, "BAR 2: an MMIO window onto the VGA ports, the Bochs VBE registers, EDID and QEMU's extended registers"),
  "qemu-extended-regs": prop(types.bool, true, "QEMU's extended registers in BAR 2 at 0x600; revision 2 instead of 0 (needs mmio)"),
  edid: prop(types.bool, true, "EDID blob in BAR 2 at 0x000 (needs mmio)"),
  xres: prop(types.uint32, 0, "EDID preferred width in pixels; 0 means 1280"),
  yres: prop(types.uint32, 0, "EDID preferred height in pixels; 0 means 800"),
  xmax: prop(types.uint32, 0, "EDID: modes wider than this are not advertised (0: no limit)"),
  ymax: prop(types.uint32, 0, "EDID: modes higher than this are not advertised (0: no limit)"),
  refresh_rate: prop(types.uint32, 0, "EDID refresh rate of the preferred mode in mHz; 0 means 75 Hz"),
  "global-vmstate": prop(
    types.bool,
    false,
    "migrate VRAM under the global name vga.vram (no guest-visible effect; one such display per machine)",
  ),
  "big-endian-framebuffer": prop(
    types.bool,
    false,
    "framebuffer byte order; QEMU's reset restores little endian before the guest runs, so no guest-visible effect",
    { guestVisible: false, inQtree: false },
  ),
};

/** What snapshots keep of the VGA core: every register, index and latch, the DAC and the Bochs VBE registers. */
export const VGA_CORE_FIELDS: Field<VgaCore>[] = [
  u8Array("sr"),
  u8Array("srVbe"),
  u8Array("gr"),
  u8Array("cr"),
  u8Array("ar"),
  u8("srIndex"),
  u8("grIndex"),
  u8("crIndex"),
  u8("arIndex"),
  u8("arFlipFlop"),
  u8("msr"),
  u8("fcr"),
  u8("st00"),
  u8("st01"),
  u8("dacState"),
  u8("dacSubIndex"),
  u8("dacReadIndex"),
  u8("dacWriteIndex"),
  u8Array("dacCache"),
  u8Array("palette"),
  u32("latch"),
  i32("bankOffset"),
  u16("vbeIndex"),
  u16Array("vbeRegs"),
  u32("vbeLineOffset"),
  u32("vbeStartAddr"),
  u32("vbeBankMask"),
];

const VGA_STATE = describeState<VgaCore>({ name: "vga", version: 1, fields: VGA_CORE_FIELDS });

/** Video RAM: the pages a guest wrote. */
export const VRAM_STATE = describeState<Vram>({ name: "vram", version: 1, fields: [pages("pages", PAGE_SIZE)] });

const QEXT_STATE = describeState<{ bigEndianFramebuffer: boolean }>({
  name: "qemu-extended-regs",
  version: 1,
  fields: [bool("bigEndianFramebuffer")],
});

/**
 * QEMU's standard VGA "VGA" (1234:1111): VRAM in prefetchable BAR 0, an MMIO BAR 2 (EDID at
 * 0x000, the VGA ports at 0x400, Bochs VBE at 0x500, QEMU extended registers at 0x600), and the
 * legacy VGA ports, Bochs VBE ports 0x1ce-0x1d1 and the 0xA0000 window, always decoded as QEMU
 * maps them (not gated by the command register).
 * Not emulated: framebuffer rendering and display output.
 */
@pciDriver({
  name: "VGA",
  description: "VGA (QEMU standard VGA with Bochs VBE extensions)",
  category: "display",
  properties,
  romfile: "vgabios-stdvga.bin",
  hotpluggable: false,
  parents: ["pci-vga"],
})
export class StdVga extends PciDevice {
  readonly vga: VgaCore;
  private readonly qext = { bigEndianFramebuffer: false };
  private readonly legacyPorts: Region[];
  private readonly lowMemory: Region;

  constructor(
    @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>,
    @inject(MACHINE) machine: Machine,
    @inject(IO_SPACE) private readonly io: AddressSpace,
    @inject(MEMORY_SPACE) private readonly memory: AddressSpace,
  ) {
    super({ vendorId: 0x1234, deviceId: 0x1111, classCode: 0x0300 }, props);
    checkGlobalVmstate(machine, props["global-vmstate"]);
    const vram = new Vram(vgaVramMiB(props.vgamem_mb) * MiB);
    const vga = (this.vga = new VgaCore(vram));
    this.function.keepState(VGA_STATE, vga);
    this.function.keepState(VRAM_STATE, vram);
    this.function.keepState(QEXT_STATE, this.qext);
    const owner = this.driver;
    this.defineBar(0, {
      kind: "mem32",
      prefetchable: true,
      size: vram.size,
      name: "vga.vram",
      ops: vram,
      regionOptions: { unaligned: true },
    });
    if (props.mmio) {
      const bar = this.defineBar(2, { kind: "mem32", size: MMIO_SIZE, name: "vga.mmio" });
      // QEMU's vga.mmio is itself an I/O region of unassigned ops: its gaps read all ones.
      bar.contents.map(new Region("vga.mmio", MMIO_SIZE, { read: () => 0xffffffff, write: () => {} }, { owner }), 0, -1);
      bar.contents.map(
        new Region(
          "vga ioports remapped",
          IOPORTS_SIZE,
          {
            read: (offset) => vga.ioRead(0x3c0 + offset),
            write: (offset, _size, value) => vga.ioWrite(0x3c0 + offset, value),
          },
          { implMax: 1, owner },
        ),
        IOPORTS_OFFSET,
      );
      bar.contents.map(
        new Region(
          "bochs dispi interface",
          BOCHS_SIZE,
          {
            // Register n at offset 2n, flat: an access selects the index, then the data.
            read: (offset) => {
              vga.vbeIndex = offset >> 1;
              return vga.vbeReadData();
            },
            write: (offset, _size, value) => {
              vga.vbeIndex = offset >> 1;
              vga.vbeWriteData(value);
            },
          },
          { implMin: 2, implMax: 2, owner },
        ),
        BOCHS_OFFSET,
      );
      if (props["qemu-extended-regs"]) {
        this.config.set8(PCI_REVISION_ID, 2);
        bar.contents.map(new Region("qemu extended regs", QEXT_SIZE, this.qextRegisters(), { owner }), QEXT_OFFSET);
      }
      if (props.edid) {
        // QEMU's realize fills in the preferred mode, so qtree shows it.
        if (props.xres === 0) props.xres = 1280;
        if (props.yres === 0) props.yres = 800;
        const edid = generateEdid({
          xres: props.xres,
          yres: props.yres,
          xmax: props.xmax,
          ymax: props.ymax,
          refreshRate: props.refresh_rate,
        });
        bar.contents.map(
          new Region("edid", EDID_SIZE, { read: (offset) => edid[offset]!, write: () => {} }, { implMax: 1, owner }),
          EDID_OFFSET,
        );
      }
    }
    const ports = (start: number, length: number): Region =>
      portBlock(
        "vga",
        length,
        1,
        (i) => vga.ioRead(start + i),
        (i, v) => vga.ioWrite(start + i, v),
        owner,
      );
    this.legacyPorts = [ports(0x3b4, 2), ports(0x3ba, 1), ports(0x3c0, 16), ports(0x3d4, 2), ports(0x3da, 1)];
    // Index at 0x1ce; data at 0x1cf (x86) and 0x1d0; 16-bit accesses only.
    this.legacyPorts.push(
      portBlock(
        "vbe",
        4,
        2,
        (i) => (i === 0 ? vga.vbeIndex : i <= 2 ? vga.vbeReadData() : 0xffff),
        (i, v) => {
          if (i === 0) vga.vbeIndex = v;
          else if (i <= 2) vga.vbeWriteData(v);
        },
        owner,
      ),
    );
    this.lowMemory = vga.lowMemoryRegion("vga-lowmem", owner);
  }

  /** QEMU extended registers: dword accesses only; other sizes read 0 (an invalid access in QEMU). */
  private qextRegisters(): RegionOps {
    return {
      read: (offset, size) => {
        if (size !== 4) return 0;
        if (offset === 0) return QEXT_SIZE;
        return this.qext.bigEndianFramebuffer ? QEXT_BIG_ENDIAN : QEXT_LITTLE_ENDIAN;
      },
      write: (offset, size, value) => {
        if (size !== 4 || offset !== 4) return;
        if (value === QEXT_BIG_ENDIAN) this.qext.bigEndianFramebuffer = true;
        if (value === QEXT_LITTLE_ENDIAN) this.qext.bigEndianFramebuffer = false;
      },
    };
  }

  override plugged(): void {
    const bases = [0x3b4, 0x3ba, 0x3c0, 0x3d4, 0x3da, VBE_PORT_BASE];
    this.legacyPorts.forEach((r, i) => this.io.map(r, bases[i]!));
    // Above RAM and below the chain-4 alias, as vga_init maps it (priority 1).
    this.memory.map(this.lowMemory, LEGACY_MEMORY_BASE, 1);
  }

  override unplugging(): void {
    for (const r of this.legacyPorts) this.io.unmap(r);
    this.memory.unmap(this.lowMemory);
  }

  protected override resetRegisters(): void {
    this.vga.reset();
    this.qext.bigEndianFramebuffer = false;
  }
}
