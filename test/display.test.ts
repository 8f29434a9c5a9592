import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { probeBar } from "./support/config-cycles.js";
import "../devices/vga.js";
import "../devices/cirrus-vga.js";

/** Every display here sits at 00:02.0. */
const DEVFN = 2 << 3;
const BAR0 = 0x10;
const BAR1 = 0x14;
const BAR2 = 0x18;
const VRAM_BASE = 0xfd000000;
const MMIO_BASE = 0xfe000000;

function machine(devices: string[], type = "pc"): Machine {
  return Machine.create({ machine: type, devices });
}
const cfg = (m: Machine, offset: number, size: 1 | 2 | 4 = 4): number => m.configRead(0, DEVFN, offset, size);
const setCfg = (m: Machine, offset: number, value: number, size: 1 | 2 | 4 = 4): void => m.configWrite(0, DEVFN, offset, size, value);
const probe = (m: Machine, offset: number): number => probeBar(m, DEVFN, offset);
/** Programs BARs and turns memory decoding on. */
function mapBars(m: Machine, bars: [number, number][]): void {
  for (const [offset, addr] of bars) setCfg(m, offset, addr);
  setCfg(m, 0x04, 0x0002, 2);
}
const vbeRead = (m: Machine, index: number): number => {
  m.ioWrite(0x1ce, 2, index);
  return m.ioRead(0x1cf, 2);
};
const vbeWrite = (m: Machine, index: number, value: number): void => {
  m.ioWrite(0x1ce, 2, index);
  m.ioWrite(0x1cf, 2, value);
};
const crtc = (m: Machine, index: number): number => {
  m.ioWrite(0x3b4, 1, index);
  return m.ioRead(0x3b5, 1);
};

describe("VGA (QEMU standard VGA)", () => {
  it("VGA's VRAM BAR is 16 MiB prefetchable", () => {
    expect(probe(machine(["VGA"]), BAR0)).toBe(0xff000008);
  });

  it("vgamem_mb is clamped to 1-512 MiB and rounded up to a power of two", () => {
    expect(probe(machine(["VGA,vgamem_mb=0"]), BAR0)).toBe(0xfff00008);
    expect(probe(machine(["VGA,vgamem_mb=3"]), BAR0)).toBe(0xffc00008);
    expect(probe(machine(["VGA,vgamem_mb=1000"]), BAR0)).toBe(0xe0000008);
  });

  it("the MMIO BAR 2 is 4 KiB and QEMU's extended registers make the revision 2", () => {
    const m = machine(["VGA"]);
    expect(probe(m, BAR2)).toBe(0xfffff000);
    expect(cfg(m, 0x08, 1)).toBe(2);
  });

  it("without qemu-extended-regs the revision is 0 and BAR 2 stays; without mmio there is no BAR 2", () => {
    const noQext = machine(["VGA,qemu-extended-regs=off"]);
    expect(cfg(noQext, 0x08, 1)).toBe(0);
    expect(probe(noQext, BAR2)).toBe(0xfffff000);
    const noMmio = machine(["VGA,mmio=off"]);
    expect(cfg(noMmio, 0x08, 1)).toBe(0);
    expect(probe(noMmio, BAR2)).toBe(0);
  });

  it("on pc-i440fx-1.4 the compat properties make VGA revision 0 with no EDID, as the explicit properties do", () => {
    for (const m of [machine(["VGA"], "pc-i440fx-1.4"), machine(["VGA,qemu-extended-regs=off,edid=off,global-vmstate=on"])]) {
      expect(cfg(m, 0x08, 1)).toBe(0);
      mapBars(m, [[BAR2, MMIO_BASE]]);
      expect(m.memRead(MMIO_BASE, 4)).toBe(0xffffffff); // no EDID at 0x000
      expect(m.memRead(MMIO_BASE + 0x600, 4)).toBe(0xffffffff); // no extended registers
      expect(m.memRead(MMIO_BASE + 0x500, 2)).toBe(0xb0c5); // Bochs VBE is still there
    }
  });

  it("the VBE id register answers at port 0x1ce/0x1cf while I/O decoding is off: QEMU maps the legacy ports unconditionally", () => {
    const m = machine(["VGA"]);
    expect(cfg(m, 0x04, 2)).toBe(0);
    expect(vbeRead(m, 0)).toBe(0xb0c5);
    expect(m.ioRead(0x1d0, 2)).toBe(0xb0c5); // second data port
    expect(m.ioRead(0x1ce, 2)).toBe(0); // the index reads back
  });

  it("the VBE ports take 16-bit accesses only: bytes and dwords read all ones", () => {
    const m = machine(["VGA"]);
    expect(m.ioRead(0x1cf, 1)).toBe(0xff);
    expect(m.ioRead(0x1ce, 4)).toBe(0xffffffff);
    expect(m.ioRead(0x1d1, 2)).toBe(0xffff);
  });

  it("VBE reports its capabilities, VRAM size, and clamps a mode to what VRAM holds when enabled", () => {
    const m = machine(["VGA"]);
    vbeWrite(m, 4, 0x02); // GETCAPS
    expect(vbeRead(m, 1)).toBe(16000);
    expect(vbeRead(m, 2)).toBe(12000);
    expect(vbeRead(m, 3)).toBe(32);
    vbeWrite(m, 4, 0);
    expect(vbeRead(m, 0x0a)).toBe(0x100); // 16 MiB in 64 KiB units
    vbeWrite(m, 1, 1366);
    vbeWrite(m, 2, 768);
    vbeWrite(m, 3, 32);
    expect(vbeRead(m, 1)).toBe(1366); // not clamped while disabled
    vbeWrite(m, 4, 0x41);
    expect(vbeRead(m, 4)).toBe(0x41);
    expect(vbeRead(m, 1)).toBe(1360);
    expect(vbeRead(m, 6)).toBe(1360);
    expect(vbeRead(m, 7)).toBe(3084);
    vbeWrite(m, 3, 7); // no such depth: 8 bpp
    expect(vbeRead(m, 3)).toBe(8);
    expect(vbeRead(m, 7)).toBe(12336);
  });

  it("enabling VBE programs the graphics and CRT controllers as QEMU does", () => {
    const m = machine(["VGA"]);
    vbeWrite(m, 1, 1366);
    vbeWrite(m, 2, 768);
    vbeWrite(m, 3, 32);
    vbeWrite(m, 4, 0x41);
    vbeWrite(m, 3, 8);
    m.ioWrite(0x3ce, 1, 6);
    expect(m.ioRead(0x3cf, 1)).toBe(0x05);
    m.ioWrite(0x3ce, 1, 5);
    expect(m.ioRead(0x3cf, 1)).toBe(0x40);
    expect([0x13, 0x01, 0x12, 0x07, 0x09, 0x17, 0x18].map((i) => crtc(m, i))).toEqual([0xaa, 0xa9, 0xff, 0x50, 0x40, 0x03, 0xff]);
  });

  it("in a VBE 8-bit mode the 0xA0000 window is chain-4 VRAM, the same bytes BAR 0 shows", () => {
    const m = machine(["VGA"]);
    vbeWrite(m, 3, 8);
    vbeWrite(m, 4, 0x01);
    mapBars(m, [[BAR0, VRAM_BASE]]);
    m.memWrite(0xa0005, 1, 0x5a);
    expect(m.memRead(VRAM_BASE + 5, 1)).toBe(0x5a);
    m.memWrite(VRAM_BASE + 6, 1, 0x77);
    expect(m.memRead(0xa0006, 1)).toBe(0x77);
    vbeWrite(m, 5, 0x1ff); // bank register keeps the bits VRAM needs
    expect(vbeRead(m, 5)).toBe(0xff);
  });

  it("after reset the 0xA0000 window is planar with every plane write-protected", () => {
    const m = machine(["VGA"]);
    m.memWrite(0xa0000, 1, 0x12);
    expect(m.memRead(0xa0000, 1)).toBe(0);
  });

  it("VGA ports behave as QEMU's byte-wide portio: words are two bytes, dwords decode nothing", () => {
    const m = machine(["VGA"]);
    m.ioWrite(0x3c4, 1, 0x1f);
    expect(m.ioRead(0x3c4, 1)).toBe(7); // 8 sequencer registers
    expect(m.ioRead(0x3c4, 2)).toBe(0x0007);
    expect(m.ioRead(0x3c4, 4)).toBe(0xffffffff);
    m.ioWrite(0x3ce, 1, 0x3b);
    expect(m.ioRead(0x3ce, 2)).toBe(0x000b);
    expect(m.ioRead(0x3cf, 2)).toBe(0xff00); // 0x3d0 belongs to nobody
    expect(m.ioRead(0x3b0, 1)).toBe(0xff); // std VGA leaves 0x3b0-0x3b3 unclaimed
  });

  it("the CRT controller answers at 0x3b4/0x3b5 in monochrome mode and at 0x3d4/0x3d5 once MSR selects colour", () => {
    const m = machine(["VGA"]);
    expect(m.ioRead(0x3d4, 1)).toBe(0xff);
    m.ioWrite(0x3c2, 1, 0x01);
    expect(m.ioRead(0x3cc, 1)).toBe(0x01);
    m.ioWrite(0x3d4, 1, 0x0e);
    expect(m.ioRead(0x3d4, 1)).toBe(0x0e);
    expect(m.ioRead(0x3b4, 1)).toBe(0xff);
  });

  it("input status 1 toggles its retrace bits on every read", () => {
    const m = machine(["VGA"]);
    expect([m.ioRead(0x3ba, 1), m.ioRead(0x3ba, 1), m.ioRead(0x3ba, 1)]).toEqual([0x09, 0x00, 0x09]);
  });

  it("BAR 2 holds the EDID, the VGA ports at 0x400, Bochs VBE at 0x500 and the extended registers at 0x600", () => {
    const m = machine(["VGA"]);
    mapBars(m, [[BAR2, MMIO_BASE]]);
    expect([m.memRead(MMIO_BASE, 4), m.memRead(MMIO_BASE + 4, 4)]).toEqual([0xffffff00, 0x00ffffff]);
    let sum = 0;
    for (let i = 0; i < 128; i++) sum += m.memRead(MMIO_BASE + i, 1);
    expect(sum & 0xff).toBe(0); // a valid EDID base block
    expect(m.memRead(MMIO_BASE + 0x100, 4)).toBe(0); // the EDID region is 0x180 bytes, 256 of them data
    expect(m.memRead(MMIO_BASE + 0x180, 4)).toBe(0xffffffff);
    m.ioWrite(0x3c4, 1, 2);
    expect(m.memRead(MMIO_BASE + 0x404, 1)).toBe(2);
    expect(m.memRead(MMIO_BASE + 0x410, 1)).toBe(0xff); // 0x3d0: colour ports, monochrome mode
    expect(m.memRead(MMIO_BASE + 0x500, 4)).toBe(0x0000b0c5);
    expect(m.memRead(MMIO_BASE + 0x514, 2)).toBe(0x100);
    expect(m.memRead(MMIO_BASE + 0x516, 1)).toBe(0xff);
    expect(m.memRead(MMIO_BASE + 0x600, 4)).toBe(8);
    expect(m.memRead(MMIO_BASE + 0x604, 4)).toBe(0x1e1e1e1e);
    expect(m.memRead(MMIO_BASE + 0xff0, 4)).toBe(0xffffffff);
  });

  /** The 256 EDID bytes QEMU 7.2's VGA shows at BAR 2 with default properties. */
  const QEMU_DEFAULT_EDID =
    "00ffffffffffff0049143412000000002a180104a520147806ee91a3544c9926" +
    "0f5054210800e1c0d1c0d100a940b300950081808140ea2900c051201c304026" +
    "444045cb10000018000000f7000a004082002820000000000000000000fd0032" +
    "7d1ea0ff010a202020202020000000fc0051454d55204d6f6e69746f720a013a" +
    "02030b00467d6560591f61000000100000000000000000000000000000000000" +
    "1000000000000000000000000000000000001000000000000000000000000000" +
    "0000000010000000000000000000000000000000000010000000000000000000" +
    "000000000000000010000000000000000000000000000000000000000000002f";
  const edidHex = (m: Machine, from: number, length: number): string =>
    Array.from({ length }, (_, i) =>
      m
        .memRead(MMIO_BASE + from + i, 1)
        .toString(16)
        .padStart(2, "0"),
    ).join("");

  it("the EDID is QEMU's for the default 1280x800 monitor, byte for byte", () => {
    const m = machine(["VGA"]);
    mapBars(m, [[BAR2, MMIO_BASE]]);
    expect(edidHex(m, 0, 256)).toBe(QEMU_DEFAULT_EDID);
  });

  it("xres/yres change the EDID's preferred timing; 4096 or more pixels move it to a DisplayID block", () => {
    const m = machine(["VGA,xres=1024,yres=768"]);
    mapBars(m, [[BAR2, MMIO_BASE]]);
    expect(edidHex(m, 54, 18)).toBe("2520006641001a30001e334004c310000018");
    const big = machine(["VGA,xres=5000,yres=3000"]);
    mapBars(big, [[BAR2, MMIO_BASE]]);
    expect(big.memRead(MMIO_BASE + 126, 1)).toBe(2); // CEA and DisplayID extensions
    expect(edidHex(big, 54, 4)).toBe("000000f7"); // no detailed timing in the base block
    expect(edidHex(big, 256, 32)).toBe("7013170300030014066602888713d506e1049500b70b68000e000e0091000000");
  });

  it("the flat Bochs registers in BAR 2 select the VBE index the ports see", () => {
    const m = machine(["VGA"]);
    mapBars(m, [[BAR2, MMIO_BASE]]);
    m.memWrite(MMIO_BASE + 0x502, 2, 800);
    expect(m.ioRead(0x1ce, 2)).toBe(1);
    expect(m.ioRead(0x1cf, 2)).toBe(800);
  });

  it("the extended byte-order register switches between little and big endian markers", () => {
    const m = machine(["VGA"]);
    mapBars(m, [[BAR2, MMIO_BASE]]);
    m.memWrite(MMIO_BASE + 0x604, 4, 0xbebebebe);
    expect(m.memRead(MMIO_BASE + 0x604, 4)).toBe(0xbebebebe);
    m.memWrite(MMIO_BASE + 0x604, 4, 0x12345678);
    expect(m.memRead(MMIO_BASE + 0x604, 4)).toBe(0xbebebebe);
    m.reset();
    mapBars(m, [[BAR2, MMIO_BASE]]);
    expect(m.memRead(MMIO_BASE + 0x604, 4)).toBe(0x1e1e1e1e);
  });

  it("with EDID on, the resolved xres/yres show QEMU's preferred mode 1280x800", () => {
    const m = machine(["VGA,id=v"]);
    const props = m.placement(m.findDevice("v")!)!.props;
    expect([props.xres, props.yres]).toEqual([1280, 800]);
  });

  it("only one global-vmstate display fits in a machine, as on pc-i440fx-1.4 with two VGAs", () => {
    expect(() => machine(["VGA", "VGA"], "pc-i440fx-1.4")).toThrow("Only one global VGA device can be used at a time");
    expect(() => machine(["VGA,global-vmstate=on", "cirrus-vga,global-vmstate=on"])).toThrow(
      "Only one global VGA device can be used at a time",
    );
    expect(() => machine(["VGA", "VGA"])).not.toThrow();
  });
});

describe("cirrus-vga (CL-GD5446)", () => {
  it("vgamem_mb takes 4, 8 or 16, with QEMU's error text otherwise", () => {
    expect(() => machine(["cirrus-vga,vgamem_mb=2"])).toThrow("Invalid cirrus_vga ram size '2'");
    for (const mb of [4, 8, 16]) expect(probe(machine([`cirrus-vga,vgamem_mb=${mb}`]), BAR0)).toBe(0xfe000008);
  });

  it("pc-i440fx-1.4 gives cirrus-vga 8 MiB of VRAM behind the same 32 MiB BAR", () => {
    const m = machine(["cirrus-vga,id=c"], "pc-i440fx-1.4");
    expect(m.placement(m.findDevice("c")!)!.props.vgamem_mb).toBe(8);
    expect(probe(m, BAR0)).toBe(0xfe000008);
  });

  it("the Cirrus registers reset to QEMU's values: part id CR27 0xb8, locked extensions, 4 MiB configuration", () => {
    const m = machine(["cirrus-vga"]);
    const sr = (i: number): number => (m.ioWrite(0x3c4, 1, i), m.ioRead(0x3c5, 1));
    expect(crtc(m, 0x27)).toBe(0xb8);
    expect([0x06, 0x0f, 0x15, 0x17, 0x1f].map(sr)).toEqual([0x0f, 0x98, 0x04, 0x20, 0x2d]);
    expect(sr(0x20)).toBe(0xff);
    m.ioWrite(0x3ce, 1, 0x18);
    expect(m.ioRead(0x3cf, 1)).toBe(0x0f);
    expect([0x1e, 0x22, 0x23, 0x28].map((i) => crtc(m, i))).toEqual([0xff, 0x00, 0xff, 0xff]);
  });

  it("SR6 unlocks with 0x12 and the extended registers keep QEMU's masks", () => {
    const m = machine(["cirrus-vga"]);
    const sr = (i: number): number => (m.ioWrite(0x3c4, 1, i), m.ioRead(0x3c5, 1));
    m.ioWrite(0x3c4, 1, 6);
    m.ioWrite(0x3c5, 1, 0xf2);
    expect(sr(6)).toBe(0x12);
    m.ioWrite(0x3c4, 1, 0x30); // cursor X alias
    m.ioWrite(0x3c5, 1, 0x44);
    expect(sr(0x10)).toBe(0x44);
    m.ioWrite(0x3c4, 1, 0x17);
    m.ioWrite(0x3c5, 1, 0xff);
    expect(sr(0x17)).toBe(0xe7);
    m.ioWrite(0x3ce, 1, 0x21);
    m.ioWrite(0x3cf, 1, 0xff);
    expect(m.ioRead(0x3cf, 1)).toBe(0x1f);
    m.ioWrite(0x3ce, 1, 0x31);
    m.ioWrite(0x3cf, 1, 0x02); // a started blit is over at once
    expect(m.ioRead(0x3cf, 1)).toBe(0);
  });

  it("the hidden DAC register opens on the fifth read of 0x3c6 and latches a write after four", () => {
    const m = machine(["cirrus-vga"]);
    expect(m.ioRead(0x3c6, 1)).toBe(0xff);
    m.ioRead(0x3c8, 1);
    for (let i = 0; i < 4; i++) expect(m.ioRead(0x3c6, 1)).toBe(0xff);
    m.ioWrite(0x3c6, 1, 0x55);
    m.ioRead(0x3c8, 1);
    for (let i = 0; i < 4; i++) m.ioRead(0x3c6, 1);
    expect(m.ioRead(0x3c6, 1)).toBe(0x55);
  });

  it("cirrus claims all of 0x3b0-0x3df and takes wider port accesses byte by byte", () => {
    const m = machine(["cirrus-vga"]);
    expect(m.ioRead(0x3b0, 1)).toBe(0x00);
    m.ioWrite(0x3c4, 1, 0x1f);
    expect(m.ioRead(0x3c4, 4)).toBe(0x00ff2d1f); // index, SR1F, hidden DAC (locked), DAC state
  });

  it("BAR 0 is linear VRAM, with the blit aperture at 16 MiB reading 0xff and the gap between reading 0", () => {
    const m = machine(["cirrus-vga"]);
    mapBars(m, [
      [BAR0, 0xfc000000],
      [BAR1, MMIO_BASE],
    ]);
    m.memWrite(0xfc000010, 1, 0x5a);
    expect(m.memRead(0xfc000010, 1)).toBe(0x5a);
    expect(m.memRead(0xfc400010, 4)).toBe(0);
    expect(m.memRead(0xfd000000, 4)).toBe(0xffffffff);
  });

  it("BAR 1 shows the VGA ports from 0x3c0 and the BitBLT registers at 0x100", () => {
    const m = machine(["cirrus-vga"]);
    mapBars(m, [
      [BAR0, 0xfc000000],
      [BAR1, MMIO_BASE],
    ]);
    m.ioWrite(0x3ce, 1, 0x00);
    m.ioWrite(0x3cf, 1, 0xab); // background colour, kept whole in the shadow register
    expect(m.memRead(MMIO_BASE + 0x100, 1)).toBe(0xab);
    expect(m.memRead(MMIO_BASE + 0x0f, 1)).toBe(0xab);
    m.memWrite(MMIO_BASE + 0x108, 1, 0x34); // blit width low = GR20
    m.ioWrite(0x3ce, 1, 0x20);
    expect(m.ioRead(0x3cf, 1)).toBe(0x34);
  });

  it("in extended mode (SR7 bit 0) the 0xA0000 window is banked VRAM in 4 KiB steps, closed until a bank register is written", () => {
    const m = machine(["cirrus-vga"]);
    mapBars(m, [[BAR0, 0xfc000000]]);
    m.memWrite(0xfc000010, 1, 0x5a);
    m.memWrite(0xfc001000, 1, 0x6b);
    m.ioWrite(0x3c4, 1, 7);
    m.ioWrite(0x3c5, 1, 1);
    expect(m.memRead(0xa0010, 1)).toBe(0xff);
    m.ioWrite(0x3ce, 1, 9);
    m.ioWrite(0x3cf, 1, 0);
    expect(m.memRead(0xa0010, 1)).toBe(0x5a);
    m.memWrite(0xa0020, 1, 0x33);
    expect(m.memRead(0xfc000020, 1)).toBe(0x33);
    m.ioWrite(0x3ce, 1, 9);
    m.ioWrite(0x3cf, 1, 1);
    expect(m.memRead(0xa0000, 1)).toBe(0x6b);
    expect(m.memRead(0xb0000, 1)).toBe(0xff);
  });
});
