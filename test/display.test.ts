import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { probeBar } from "./support/config-cycles.js";
import { configDword } from "./support/qemu-fixtures.js";
import { labelled, labelledOne, loadRegisterFixture, readValues, replayMatchesQemu, scans } from "./support/register-fixtures.js";
import "../devices/vga.js";
import "../devices/cirrus-vga.js";

// Register facts come from QEMU 7.2 through the scenarios of test/fixtures/qemu/registers
// (regenerate-registers.mjs): a test replays one on machbus and compares every read.

/** Every display here sits at 00:02.0. */
const DEVFN = 2 << 3;
const BAR0 = 0x10;

function machine(devices: string[], type = "pc"): Machine {
  return Machine.create({ machine: type, devices });
}
const probe = (m: Machine, offset: number): number => probeBar(m, DEVFN, offset);
/** The size a memory BAR's write-ones read-back stands for (0: no BAR). */
const sizeOfMask = (mask: number): number => (mask === 0 ? 0 : (~(mask & ~0xf) + 1) >>> 0);
const PREFETCHABLE = 0x8;
const MiB = 1024 * 1024;
const VBE_ID = labelledOne(loadRegisterFixture("vga-vbe-ports").steps, "VBE id");
/** The active size of an EDID detailed timing descriptor at `at`. */
const preferredMode = (edid: number[], at = 54): [number, number] => [
  edid[at + 2]! | ((edid[at + 4]! >> 4) << 8),
  edid[at + 5]! | ((edid[at + 7]! >> 4) << 8),
];

describe("VGA (QEMU standard VGA)", () => {
  it("VGA's VRAM BAR is 16 MiB prefetchable", () => {
    const mask = configDword("VGA@pc-i440fx-7.2", "writeOnes", BAR0);
    expect(probe(machine(["VGA"]), BAR0)).toBe(mask);
    expect([sizeOfMask(mask), mask & PREFETCHABLE]).toEqual([16 * MiB, PREFETCHABLE]);
  });

  it("vgamem_mb is clamped to 1-512 MiB and rounded up to a power of two", () => {
    const vram = (mb: number) => sizeOfMask(labelledOne(replayMatchesQemu(`vga-vgamem_mb=${mb}`).qemu, "mask 0x10"));
    expect([vram(0), vram(3), vram(1000)]).toEqual([1 * MiB, 4 * MiB, 512 * MiB]);
  });

  it("the MMIO BAR 2 is 4 KiB and QEMU's extended registers make the revision 2", () => {
    const m = machine(["VGA"]);
    const mask = configDword("VGA@pc-i440fx-7.2", "writeOnes", 0x18);
    expect(probe(m, 0x18)).toBe(mask);
    expect(sizeOfMask(mask)).toBe(4096);
    expect(m.configRead(0, DEVFN, 0x08, 1)).toBe(configDword("VGA@pc-i440fx-7.2", "reset", 0x08) & 0xff);
    expect(configDword("VGA@pc-i440fx-7.2", "reset", 0x08) & 0xff).toBe(2);
  });

  it("without qemu-extended-regs the revision is 0 and BAR 2 stays; without mmio there is no BAR 2", () => {
    const { qemu: noQext } = replayMatchesQemu("vga-qemu-extended-regs=off");
    const { qemu: noMmio } = replayMatchesQemu("vga-mmio=off");
    expect([labelledOne(noQext, "revision"), sizeOfMask(labelledOne(noQext, "mask 0x18"))]).toEqual([0, 4096]);
    expect([labelledOne(noMmio, "revision"), labelledOne(noMmio, "mask 0x18")]).toEqual([0, 0]);
  });

  it("on pc-i440fx-1.4 the compat properties make VGA revision 0 with no EDID, as the explicit properties do", () => {
    const { qemu: old } = replayMatchesQemu("vga@pc-i440fx-1.4");
    const { qemu: explicit } = replayMatchesQemu("vga-compat-properties");
    expect(readValues(explicit)).toEqual(readValues(old));
    // revision 0; no EDID at 0x000, no extended registers; Bochs VBE is still there
    expect(["revision", "EDID", "extended registers", "VBE id"].map((l) => labelledOne(old, l))).toEqual([
      0,
      0xffffffff,
      0xffffffff,
      VBE_ID,
    ]);
  });

  it("the VBE id register answers at port 0x1ce/0x1cf while I/O decoding is off: QEMU maps the legacy ports unconditionally", () => {
    const { qemu } = replayMatchesQemu("vga-vbe-ports");
    expect(labelledOne(qemu, "command")).toBe(0);
    expect(VBE_ID >> 4).toBe(0xb0c); // a Bochs VBE id, 0xb0c0-0xb0c5
    expect([labelledOne(qemu, "second data port"), labelledOne(qemu, "index")]).toEqual([VBE_ID, 0]); // the index reads back
  });

  it("the VBE ports take 16-bit accesses only: bytes and dwords read all ones", () => {
    const { qemu } = replayMatchesQemu("vga-vbe-widths");
    expect(readValues(qemu)).toEqual([0xff, 0xffffffff, 0xffff]); // byte at 0x1cf, dword at 0x1ce, word at the odd 0x1d1
  });

  it("VBE reports its capabilities, VRAM size, and clamps a mode to what VRAM holds when enabled", () => {
    const { qemu } = replayMatchesQemu("vga-vbe-mode");
    const vram = 16 * MiB;
    expect(labelledOne(qemu, "VRAM 64 KiB units")).toBe(vram / 65536);
    expect(labelledOne(qemu, "xres disabled")).toBe(1366); // not clamped while disabled
    const width = labelledOne(qemu, "xres");
    expect([width, labelledOne(qemu, "virt width")]).toEqual([1366 & ~7, 1366 & ~7]);
    expect(labelledOne(qemu, "virt height")).toBe(Math.floor(vram / (width * 4)));
    expect(labelledOne(qemu, "bpp")).toBe(8); // no such depth as 7: 8 bpp
    expect(labelledOne(qemu, "virt height at 8 bpp")).toBe(Math.floor(vram / width));
  });

  it("enabling VBE programs the graphics and CRT controllers as QEMU does", () => {
    const { qemu } = replayMatchesQemu("vga-vbe-enable-registers");
    expect(labelledOne(qemu, "GR6") & 0x01).toBe(0x01); // graphics mode
  });

  it("in a VBE 8-bit mode the 0xA0000 window is chain-4 VRAM, the same bytes BAR 0 shows", () => {
    const { qemu } = replayMatchesQemu("vga-vbe-window");
    expect(readValues(qemu).slice(0, 2)).toEqual([0x5a, 0x77]);
    expect(labelledOne(qemu, "bank")).toBe((16 * MiB) / 65536 - 1); // the bank register keeps the bits VRAM needs
  });

  it("after reset the 0xA0000 window is planar with every plane write-protected", () => {
    const { qemu } = replayMatchesQemu("vga-planar-window");
    expect(readValues(qemu)).toEqual([0]);
  });

  it("VGA ports behave as QEMU's byte-wide portio: words are two bytes, dwords decode nothing", () => {
    const { qemu } = replayMatchesQemu("vga-port-widths");
    const [index, word, dword, grWord, grDataWord, unclaimed] = readValues(qemu);
    expect([word, dword, unclaimed]).toEqual([index, 0xffffffff, 0xff]); // SR1F reads 0; std VGA leaves 0x3b0 unclaimed
    expect([grWord! & 0xff, grDataWord! >> 8]).toEqual([0x3b & 0xf, 0xff]); // GR index keeps 4 bits; 0x3d0 belongs to nobody
  });

  it("the CRT controller answers at 0x3b4/0x3b5 in monochrome mode and at 0x3d4/0x3d5 once MSR selects colour", () => {
    const { qemu } = replayMatchesQemu("vga-crtc-address");
    expect(["colour index, mono mode", "MSR", "colour index", "mono index, colour mode"].map((l) => labelledOne(qemu, l))).toEqual([
      0xff, 0x01, 0x0e, 0xff,
    ]);
  });

  it("input status 1 toggles its retrace bits on every read", () => {
    const [a, b, c] = readValues(replayMatchesQemu("vga-input-status").qemu);
    expect([a! ^ b!, a]).toEqual([0x09, c]); // vertical retrace and display enable
  });

  it("BAR 2 holds the EDID, the VGA ports at 0x400, Bochs VBE at 0x500 and the extended registers at 0x600", () => {
    const { qemu } = replayMatchesQemu("vga-mmio-bar");
    expect(labelled(qemu, "EDID header")).toEqual([0xffffff00, 0x00ffffff]);
    expect(scans(qemu)[0]!.reduce((sum, b) => sum + b, 0) & 0xff).toBe(0); // a valid EDID base block
    expect([labelledOne(qemu, "past the EDID region"), labelledOne(qemu, "SR index"), labelledOne(qemu, "0x3d0")]).toEqual([
      0xffffffff, 2, 0xff,
    ]);
    expect([labelledOne(qemu, "VBE id"), labelledOne(qemu, "VBE VRAM size")]).toEqual([VBE_ID, (16 * MiB) / 65536]);
    expect(labelledOne(qemu, "end of BAR 2")).toBe(0xffffffff);
  });

  it("the EDID is QEMU's for the default 1280x800 monitor, byte for byte", () => {
    const edid = scans(replayMatchesQemu("vga-edid").qemu)[0]!;
    expect(preferredMode(edid)).toEqual([1280, 800]);
  });

  it("xres/yres change the EDID's preferred timing; 4096 or more pixels move it to a DisplayID block", () => {
    const edid = scans(replayMatchesQemu("vga-edid-1024x768").qemu)[0]!;
    expect(preferredMode(edid)).toEqual([1024, 768]);
    const big = scans(replayMatchesQemu("vga-edid-5000x3000").qemu)[0]!;
    expect(big[126]).toBe(2); // CEA and DisplayID extensions
    expect(big.slice(54, 57)).toEqual([0, 0, 0]); // no detailed timing in the base block
    expect(big[256]).toBe(0x70); // the DisplayID extension tag
  });

  it("the flat Bochs registers in BAR 2 select the VBE index the ports see", () => {
    const { qemu } = replayMatchesQemu("vga-bochs-mmio");
    expect([labelledOne(qemu, "index"), labelledOne(qemu, "data")]).toEqual([1, 800]);
  });

  it("the extended byte-order register switches between little and big endian markers", () => {
    const { qemu } = replayMatchesQemu("vga-byte-order");
    const little = labelledOne(loadRegisterFixture("vga-mmio-bar").steps, "byte order");
    expect(["big endian", "after another value", "after reset"].map((l) => labelledOne(qemu, l))).toEqual([0xbebebebe, 0xbebebebe, little]);
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
    const masks = [4, 8, 16].map((mb) => labelledOne(replayMatchesQemu(`cirrus-vgamem_mb=${mb}`).qemu, "mask 0x10"));
    expect(masks.map((mask) => [sizeOfMask(mask), mask & PREFETCHABLE])).toEqual(masks.map(() => [32 * MiB, PREFETCHABLE]));
  });

  it("pc-i440fx-1.4 gives cirrus-vga 8 MiB of VRAM behind the same 32 MiB BAR", () => {
    const m = machine(["cirrus-vga,id=c"], "pc-i440fx-1.4");
    expect(m.placement(m.findDevice("c")!)!.props.vgamem_mb).toBe(8);
    expect(probe(m, BAR0)).toBe(configDword("cirrus-vga@pc-i440fx-1.4", "writeOnes", BAR0));
    expect(sizeOfMask(configDword("cirrus-vga@pc-i440fx-1.4", "writeOnes", BAR0))).toBe(32 * MiB);
  });

  it("the Cirrus registers reset to QEMU's values: part id CR27 0xb8, locked extensions, 4 MiB configuration", () => {
    const { qemu } = replayMatchesQemu("cirrus-reset-registers");
    expect(labelledOne(qemu, "CR27")).toBe(0xb8); // CL-GD5446
    expect(labelledOne(qemu, "SR6")).toBe(0x0f); // extensions locked
  });

  it("SR6 unlocks with 0x12 and the extended registers keep QEMU's masks", () => {
    const { qemu } = replayMatchesQemu("cirrus-extended-registers");
    expect([labelledOne(qemu, "SR6"), labelledOne(qemu, "SR10")]).toEqual([0x12, 0x44]); // unlocked; SR10 written through its 0x30 alias
    expect(labelledOne(qemu, "GR31")).toBe(0); // a started blit is over at once
  });

  it("the hidden DAC register opens on the fifth read of 0x3c6 and latches a write after four", () => {
    const { qemu } = replayMatchesQemu("cirrus-hidden-dac");
    expect(labelled(qemu, "PEL mask")).toEqual([0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(labelledOne(qemu, "hidden DAC")).toBe(0x55);
  });

  it("cirrus claims all of 0x3b0-0x3df and takes wider port accesses byte by byte", () => {
    const { qemu } = replayMatchesQemu("cirrus-port-widths");
    const [at3b0, dword] = readValues(qemu);
    expect([at3b0 === 0xff, dword! & 0xff]).toEqual([false, 0x1f]); // claimed; the dword starts with the index
  });

  it("BAR 0 is linear VRAM, with the blit aperture at 16 MiB reading 0xff and the gap between reading 0", () => {
    const { qemu } = replayMatchesQemu("cirrus-linear-bar");
    expect(["VRAM", "past 4 MiB", "blit aperture"].map((l) => labelledOne(qemu, l))).toEqual([0x5a, 0, 0xffffffff]);
  });

  it("BAR 1 shows the VGA ports from 0x3c0 and the BitBLT registers at 0x100", () => {
    const { qemu } = replayMatchesQemu("cirrus-mmio-bar");
    // the background colour is kept whole in the shadow register; the blit width low byte is GR20
    expect(["BitBLT background", "GR data port", "GR20"].map((l) => labelledOne(qemu, l))).toEqual([0xab, 0xab, 0x34]);
  });

  it("in extended mode (SR7 bit 0) the 0xA0000 window is banked VRAM in 4 KiB steps, closed until a bank register is written", () => {
    const { qemu } = replayMatchesQemu("cirrus-bank-window");
    expect(["closed", "bank 0", "VRAM", "bank 1", "0xb0000"].map((l) => labelledOne(qemu, l))).toEqual([0xff, 0x5a, 0x33, 0x6b, 0xff]);
  });
});
