import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import "../devices/e1000.js";
import "../devices/ne2k-pci.js";
import "../devices/rtl8139.js";
import { readText } from "./support/qemu-fixtures.js";

// Facts measured on qemu-system-x86_64 7.2 (qtest on -S machines; register values read after
// programming the BARs exactly as these tests do).

const SLOT2 = 2 << 3;
const MMIO = 0xfe000000;
const IO = 0xc000;

/** Programs BAR `bar` of 00:02.0 (or `devfn`) and turns on I/O, memory and bus mastering. */
function mapBar(m: Machine, bar: number, address: number, devfn = SLOT2): void {
  m.configWrite(0, devfn, 0x10 + 4 * bar, 4, address);
  m.configWrite(0, devfn, 0x04, 2, 0x0007);
}

/** Writes all ones to a config dword and reads it back, as the fixture protocol does. */
function sizeBar(m: Machine, offset: number, devfn = SLOT2): number {
  m.configWrite(0, devfn, offset, 4, 0xffffffff);
  return m.configRead(0, devfn, offset);
}

/** The block `info qtree` prints for the device at 00:02.0, indentation made relative. */
function qtreeBlock(text: string, driver: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trimStart().startsWith(`dev: ${driver}, id`));
  const indent = lines[start]!.length - lines[start]!.trimStart().length;
  const block = [lines[start]!.slice(indent)];
  for (const l of lines.slice(start + 1)) {
    if (l.length - l.trimStart().length <= indent) break;
    block.push(l.slice(indent));
  }
  return block;
}

describe("e1000", () => {
  const e1000 = (...extra: string[]) => {
    const m = Machine.create({ devices: [["e1000", ...extra].join(",")] });
    mapBar(m, 0, MMIO);
    mapBar(m, 1, IO);
    return m;
  };
  const reg = (m: Machine, offset: number) => m.memRead(MMIO + offset, 4);
  const setReg = (m: Machine, offset: number, value: number) => m.memWrite(MMIO + offset, 4, value);

  it("BAR 0 reads back 0xfffe0000 (128 KiB memory) and BAR 1 0xffffffc1 (64 ports) after all ones", () => {
    const m = Machine.create({ devices: ["e1000"] });
    expect([sizeBar(m, 0x10), sizeBar(m, 0x14)]).toEqual([0xfffe0000, 0xffffffc1]);
  });

  it("the option ROM BAR is 256 KiB (efi-e1000.rom) on pc-i440fx-7.2 and 128 KiB (pxe-e1000.rom) on 1.4", () => {
    expect(sizeBar(Machine.create({ devices: ["e1000"] }), 0x30)).toBe(0xfffc0001);
    expect(sizeBar(Machine.create({ machine: "pc-i440fx-1.4", devices: ["e1000"] }), 0x30)).toBe(0xfffe0001);
  });

  it("a mapped e1000 reports its MAC in RAL0/RAH0 through MMIO, with the address-valid bit", () => {
    const m = e1000();
    expect([reg(m, 0x5400), reg(m, 0x5404)]).toEqual([0x12005452, 0x80005634]);
  });

  it("after reset the 128 KiB of registers read as on QEMU: CTRL, STATUS, EECD, VET, LEDCTL, PBA, RA0, MANC, zeros elsewhere", () => {
    const nonZero = (m: Machine) => {
      const found: [number, number][] = [];
      for (let offset = 0; offset < 0x20000; offset += 4) {
        const value = reg(m, offset);
        if (value) found.push([offset, value]);
      }
      return found;
    };
    const qemu72: [number, number][] = [
      [0x00000, 0x00140240],
      [0x00008, 0x80080783],
      [0x00010, 0x00000188],
      [0x00038, 0x00008100],
      [0x00e00, 0x00000602],
      [0x01000, 0x00100030],
      [0x05400, 0x12005452],
      [0x05404, 0x80005634],
      [0x05820, 0x00222300],
    ];
    expect(nonZero(e1000())).toEqual(qemu72);
    // pc-i440fx-1.4 turns init-vet off: VET stays 0.
    const m14 = Machine.create({ machine: "pc-i440fx-1.4", devices: ["e1000"] });
    mapBar(m14, 0, MMIO);
    expect(nonZero(m14)).toEqual(qemu72.filter(([offset]) => offset !== 0x38));
  });

  it("the I/O BAR reads 0 whatever is written", () => {
    const m = e1000();
    m.ioWrite(IO, 4, 0x12345678);
    expect([m.ioRead(IO, 4), m.ioRead(IO + 4, 4), m.ioRead(IO + 0x3f, 1)]).toEqual([0, 0, 0]);
  });

  it("registers are dword-only: a byte or word access reads or writes the whole register at its offset", () => {
    const m = e1000();
    expect([1, 2, 3].map((i) => m.memRead(MMIO + 0x5400 + i, 1))).toEqual([0x52, 0x52, 0x52]);
    expect([m.memRead(MMIO + 0x5406, 2), m.memRead(MMIO + 0x5407, 1)]).toEqual([0x5634, 0x34]);
    m.memWrite(MMIO + 0x5401, 1, 0xaa);
    m.memWrite(MMIO + 0x5406, 2, 0xbeef);
    expect([reg(m, 0x5400), reg(m, 0x5404)]).toEqual([0xaa, 0xbeef]);
  });

  it("writing all ones to every register shows QEMU's write masks, and which ones mitigation and extra_mac_registers gate", () => {
    const special = new Set([0x0, 0x10, 0x14, 0x20, 0xc0, 0xc8, 0xd0, 0xd8, 0x100, 0x400, 0x3818]);
    const sweep = (m: Machine) => {
      const runs: [number, number, number][] = [];
      for (let offset = 0; offset < 0x20000; offset += 4) {
        if (special.has(offset)) continue;
        const before = reg(m, offset);
        setReg(m, offset, 0xffffffff);
        const after = reg(m, offset);
        if (after === before) continue;
        setReg(m, offset, before);
        const last = runs[runs.length - 1];
        if (last && last[0] + 4 * last[1] === offset && last[2] === after) last[1]++;
        else runs.push([offset, 1, after]);
      }
      return runs;
    };
    // Offset, run length, value read back (QEMU 7.2, e1000 defaults).
    const qemu72: [number, number, number][] = [
      [0x00038, 1, 0xffffffff],
      [0x000c4, 1, 0x0000ffff],
      [0x00458, 1, 0x0000ffff],
      [0x00e00, 1, 0xffffffff],
      [0x01000, 1, 0xffffffff],
      [0x02410, 1, 0x00001fff],
      [0x02418, 1, 0x00001fff],
      [0x02420, 1, 0x00001fff],
      [0x02428, 1, 0x00001fff],
      [0x02430, 1, 0x00001fff],
      [0x02800, 2, 0xffffffff],
      [0x02808, 1, 0x000fff80],
      [0x02810, 1, 0x0000ffff],
      [0x02818, 1, 0x0000ffff],
      [0x02820, 1, 0x0000ffff],
      [0x0282c, 1, 0x0000ffff],
      [0x03410, 1, 0x000007ff],
      [0x03418, 1, 0x000007ff],
      [0x03420, 1, 0x00001fff],
      [0x03428, 1, 0x00001fff],
      [0x03430, 1, 0x00001fff],
      [0x03800, 2, 0xffffffff],
      [0x03808, 1, 0x000fff80],
      [0x03810, 1, 0x0000ffff],
      [0x03828, 1, 0xffffffff],
      [0x0382c, 1, 0x0000ffff],
      [0x04058, 1, 0xffffffff],
      [0x05200, 160, 0xffffffff],
      [0x05600, 129, 0xffffffff],
      [0x05808, 1, 0xffffffff],
      [0x05810, 1, 0xffffffff],
      [0x05838, 1, 0xffffffff],
      [0x05840, 7, 0xffffffff],
      [0x05880, 4, 0xffffffff],
      [0x05a00, 32, 0xffffffff],
      [0x05b50, 1, 0xffffffff],
      [0x05f00, 7, 0x000007ff],
      [0x09000, 255, 0x0000000f],
      [0x09800, 255, 0xffffffff],
      [0x10000, 16384, 0xffffffff],
    ];
    expect(sweep(e1000())).toEqual(qemu72);
    // With both flags off, QEMU drops the gated registers (for arrays, only the first one is gated).
    const qemuOff: [number, number, number][] = [
      [0x00038, 1, 0xffffffff],
      [0x00e00, 1, 0xffffffff],
      [0x01000, 1, 0xffffffff],
      [0x02800, 2, 0xffffffff],
      [0x02808, 1, 0x000fff80],
      [0x02810, 1, 0x0000ffff],
      [0x02818, 1, 0x0000ffff],
      [0x03800, 2, 0xffffffff],
      [0x03808, 1, 0x000fff80],
      [0x03810, 1, 0x0000ffff],
      [0x03828, 1, 0xffffffff],
      [0x05200, 160, 0xffffffff],
      [0x05600, 128, 0xffffffff],
      [0x05808, 1, 0xffffffff],
      [0x05844, 6, 0xffffffff],
      [0x05884, 3, 0xffffffff],
      [0x05a04, 31, 0xffffffff],
      [0x05b50, 1, 0xffffffff],
      [0x05f04, 6, 0x000007ff],
      [0x09004, 254, 0x0000000f],
      [0x09804, 254, 0xffffffff],
      [0x10004, 16383, 0xffffffff],
    ];
    expect(sweep(e1000("mitigation=off", "extra_mac_registers=off"))).toEqual(qemuOff);
  });

  it("CTRL.RST clears itself and resets nothing; STATUS ignores writes; RCTL, TCTL and TDT store what QEMU stores", () => {
    const m = e1000();
    setReg(m, 0x5400, 0xdeadbeef);
    setReg(m, 0x0000, 0xffffffff);
    setReg(m, 0x0008, 0);
    setReg(m, 0x0100, 0xffffffff);
    setReg(m, 0x0400, 0xfffffffd);
    setReg(m, 0x3818, 0xffffffff);
    expect([0x0000, 0x5400, 0x0008, 0x0100, 0x0400, 0x3818].map((o) => reg(m, o))).toEqual([
      0xfbffffff, 0xdeadbeef, 0x80080783, 0xffffffff, 0xfffffffd, 0xffff,
    ]);
  });

  it("EERD reads EEPROM words: the MAC in words 0-2, the device id in 11 and 13, the checksum in 63", () => {
    const m = e1000();
    const eerd = (word: number) => {
      setReg(m, 0x0014, (word << 8) | 1);
      return reg(m, 0x0014);
    };
    expect([0, 1, 2, 3, 10, 11, 13, 63, 64].map(eerd)).toEqual([
      0x54520010, 0x12000110, 0x56340210, 0x00000310, 0x64030a10, 0x100e0b10, 0x100e0d10, 0x79ad3f10, 0x00004010,
    ]);
    setReg(m, 0x0014, 0x1234);
    expect(reg(m, 0x0014)).toBe(0x1234);
    let sum = 0;
    for (let word = 0; word < 64; word++) sum += eerd(word) >>> 16;
    expect(sum & 0xffff).toBe(0xbaba);
  });

  it("the EEPROM answers Microwire reads bit-banged through EECD, as a Linux driver reads it", () => {
    const m = e1000("mac=52:54:00:ab:cd:ef");
    const REQ = 0x40,
      CS = 0x02,
      SK = 0x01,
      DI = 0x04,
      DO = 0x08;
    const eecd = (v: number) => setReg(m, 0x0010, v);
    const word = (n: number) => {
      eecd(REQ | CS);
      for (const bit of [1, 1, 0, ...[5, 4, 3, 2, 1, 0].map((i) => (n >> i) & 1)]) {
        const di = bit ? DI : 0;
        eecd(REQ | CS | di);
        eecd(REQ | CS | di | SK);
        eecd(REQ | CS | di);
      }
      let w = 0;
      for (let i = 0; i < 16; i++) {
        eecd(REQ | CS | SK);
        w = (w << 1) | (reg(m, 0x0010) & DO ? 1 : 0);
        eecd(REQ | CS);
      }
      eecd(REQ);
      return w;
    };
    expect(reg(m, 0x0010)).toBe(0x188); // present, granted, DO idle high
    expect([0, 1, 2, 11, 63].map(word)).toEqual([0x5452, 0xab00, 0xefcd, 0x100e, 0x4714]);
    expect(reg(m, 0x0010)).toBe(0x1c0);
  });

  it("MDIC reads the PHY at address 1: QEMU's register values, and an error for registers it does not have", () => {
    const m = e1000();
    const mdicRead = (r: number) => {
      setReg(m, 0x0020, (2 << 26) | (1 << 21) | (r << 16));
      return reg(m, 0x0020);
    };
    const values = Array.from({ length: 32 }, (_, r) => mdicRead(r));
    expect(values.slice(0, 11)).toEqual([
      0x18201140, 0x1821794d, 0x18220141, 0x18230c20, 0x18240de1, 0x182501e0, 0x18260000, 0x58270000, 0x58280000, 0x18290e00, 0x182a3c00,
    ]);
    expect([values[16], values[17], values[20], values[21], values[31]]).toEqual([
      0x18300360, 0x1831ac00, 0x18340d60, 0x18350000, 0x583f0000,
    ]);
    setReg(m, 0x0020, (2 << 26) | (2 << 21) | (1 << 16)); // PHY address 2 does not answer
    expect(reg(m, 0x0020)).toBe(0x583f0000); // the previous MDIC value, with the error bit
  });

  it("an unmasked interrupt cause raises INTA (status bit 3); reading ICR returns and clears the causes", () => {
    const m = e1000();
    const status = () => m.configRead(0, SLOT2, 0x04) >>> 16;
    setReg(m, 0x00d0, 0xff);
    setReg(m, 0x00c8, 0x4);
    expect([reg(m, 0x00d0), reg(m, 0x00c8), status() & 0x08]).toEqual([0xff, 0x4, 0x08]);
    expect([reg(m, 0x00c0), reg(m, 0x00c0), reg(m, 0x00c8), status() & 0x08]).toEqual([0x4, 0, 0, 0]);
    setReg(m, 0x00d8, 0xf0);
    expect(reg(m, 0x00d0)).toBe(0x0f);
  });

  it("an autonegotiation restart completes at once here: link up, AN complete, partner ack, link-change cause", () => {
    const m = e1000();
    setReg(m, 0x0020, (1 << 26) | (1 << 21) | 0x1340); // BMCR: autoneg enable + restart
    expect(reg(m, 0x0020)).toBe(0x14201340);
    const phy = (r: number) => {
      setReg(m, 0x0020, (2 << 26) | (1 << 21) | (r << 16));
      return reg(m, 0x0020) & 0xffff;
    };
    expect([phy(0), phy(1), phy(5), reg(m, 0x0008), reg(m, 0x00c8)]).toEqual([0x1140, 0x796d, 0x41e0, 0x80080783, 0x4]);
    const off = e1000("autonegotiation=off");
    setReg(off, 0x0020, (1 << 26) | (1 << 21) | 0x1340);
    expect(reg(off, 0x00c8)).toBe(0);
  });

  it("a snapshot brings back the registers, the PHY and the EEPROM shift state", () => {
    const src = e1000();
    setReg(src, 0x5200, 0x11111111);
    setReg(src, 0x0020, (1 << 26) | (1 << 21) | (4 << 16) | 0x0101);
    setReg(src, 0x0010, 0x42);
    const dst = Machine.create({ devices: ["e1000"] });
    dst.load(src.save());
    expect([reg(dst, 0x5200), reg(dst, 0x0020), reg(dst, 0x0010), reg(dst, 0x5400)]).toEqual([0x11111111, 0x14240101, 0x1ca, 0x12005452]);
  });
});

describe("rtl8139", () => {
  const rtl = (...extra: string[]) => {
    const m = Machine.create({ devices: [["rtl8139", ...extra].join(",")] });
    mapBar(m, 0, IO);
    mapBar(m, 1, MMIO);
    return m;
  };
  const hex = (values: number[], width: number) => values.map((v) => v.toString(16).padStart(width, "0")).join(" ");
  const dump = (m: Machine, size: 1 | 2 | 4) => {
    const values: number[] = [];
    for (let offset = 0; offset < 256; offset += size) values.push(m.ioRead(IO + offset, size));
    return hex(values, 2 * size);
  };

  it("BAR 0 reads back 0xffffff01 (256 ports), BAR 1 0xffffff00 (256 bytes); the capability pointer is 0xdc with no capability bit", () => {
    const m = Machine.create({ devices: ["rtl8139"] });
    expect([sizeBar(m, 0x10), sizeBar(m, 0x14)]).toEqual([0xffffff01, 0xffffff00]);
    expect(m.configRead(0, SLOT2, 0x34)).toBe(0xdc);
    expect(m.configRead(0, SLOT2, 0x04) >>> 16).toBe(0);
    expect(m.configRead(0, SLOT2, 0xdc)).toBe(0);
  });

  it("rtl8139 reads its MAC from IDR0-5 through the I/O BAR, and the same registers through the memory BAR", () => {
    const m = rtl();
    expect(Array.from({ length: 6 }, (_, i) => m.ioRead(IO + i, 1))).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    expect([m.memRead(MMIO, 4), m.memRead(MMIO + 4, 4)]).toEqual([0x12005452, 0x00005634]);
  });

  it("after reset the registers read as on QEMU, byte by byte, word by word and dword by dword", () => {
    const m = rtl();
    const z = (n: number, w: number) => Array(n).fill("0".repeat(w)).join(" ");
    expect(dump(m, 1)).toBe(
      "52 54 00 12 34 56 00 00 00 00 00 00 00 00 00 00 00 20 00 00 00 20 00 00 00 20 00 00 00 20 00 00 " +
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 11 00 00 00 00 00 00 00 00 " +
        "00 00 00 74 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0c 00 00 00 00 00 d0 01 00 01 00 00 20 00 " +
        z(160, 2),
    );
    expect(dump(m, 2)).toBe(
      "5452 1200 5634 0000 0000 0000 0000 0000 2000 0000 2000 0000 2000 0000 2000 0000 " +
        "0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 1100 fff0 0000 0000 0000 " +
        "0000 7400 0000 0000 0000 0000 0000 0000 0000 000c 0000 0000 01d0 0100 0000 0020 " +
        "000f 1000 782d 05e1 05e1 0001 0000 0000 0000 0000 0340 0000 0000 0000 0000 0000 " +
        z(64, 4),
    );
    expect(dump(m, 4)).toBe(
      "12005452 00005634 00000000 00000000 00002000 00002000 00002000 00002000 00000000 00000000 00000000 00000000 00000000 11000000 00000000 00000000 " +
        "74800000 00000000 00000000 00000000 000c0000 00000000 010001d0 00200000 " +
        z(40, 8),
    );
  });

  it("IDR and MAR take writes of any width; ChipCmd.RST restores IDR from the MAC, keeps MAR, and reads back clear", () => {
    const m = rtl();
    m.ioWrite(IO, 4, 0x44332211);
    m.ioWrite(IO + 4, 2, 0x6655);
    m.ioWrite(IO + 8, 1, 0x99);
    expect(Array.from({ length: 8 }, (_, i) => m.ioRead(IO + i, 1))).toEqual([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0]);
    m.ioWrite(IO + 0x37, 1, 0x1c);
    expect(m.ioRead(IO + 0x37, 1)).toBe(0x0d); // receiver and transmitter on, buffer empty
    m.ioWrite(IO + 0x37, 1, 0x10);
    expect([m.ioRead(IO + 0x37, 1), m.ioRead(IO, 1), m.ioRead(IO + 8, 1)]).toEqual([0x01, 0x52, 0x99]);
  });

  it("the 93C46 EEPROM behind Cfg9346 holds 0x8129, the PCI ids and the MAC in words 7-9", () => {
    const m = rtl("mac=52:54:00:ab:cd:ef");
    const EN = 0x80,
      CS = 0x08,
      SK = 0x04,
      DI = 0x02;
    const cfg = (v: number) => m.ioWrite(IO + 0x50, 1, v);
    const word = (n: number) => {
      cfg(EN);
      cfg(EN | CS);
      const command = (6 << 6) | n;
      for (let i = 8; i >= 0; i--) {
        const di = (command >> i) & 1 ? DI : 0;
        cfg(EN | CS | di);
        cfg(EN | CS | di | SK);
      }
      cfg(EN | CS);
      let w = 0;
      for (let i = 0; i < 16; i++) {
        cfg(EN | CS | SK);
        w = (w << 1) | (m.ioRead(IO + 0x50, 1) & 1);
        cfg(EN | CS);
      }
      cfg(EN);
      return w;
    };
    expect([0, 1, 2, 7, 8, 9, 10].map(word)).toEqual([0x8129, 0x10ec, 0x8139, 0x5452, 0xab00, 0xefcd, 0]);
    expect(m.ioRead(IO + 0x50, 1)).toBe(0x80);
    cfg(0xff);
    expect(m.ioRead(IO + 0x50, 1)).toBe(0xce); // EEDO and two reserved bits are read-only
  });

  it("a system reset restores IDR but not MAR", () => {
    const m = rtl();
    m.ioWrite(IO, 1, 0xbb);
    m.ioWrite(IO + 8, 1, 0x77);
    m.reset();
    mapBar(m, 0, IO);
    expect([m.ioRead(IO, 1), m.ioRead(IO + 8, 1)]).toEqual([0x52, 0x77]);
  });

  it("a snapshot brings back IDR, MAR and ChipCmd", () => {
    const src = rtl();
    src.ioWrite(IO, 4, 0x44332211);
    src.ioWrite(IO + 12, 1, 0x5a);
    src.ioWrite(IO + 0x37, 1, 0x0c);
    const dst = Machine.create({ devices: ["rtl8139"] });
    dst.load(src.save());
    expect([dst.ioRead(IO, 4), dst.ioRead(IO + 12, 1), dst.ioRead(IO + 0x37, 1)]).toEqual([0x44332211, 0x5a, 0x0d]);
  });
});

describe("ne2k_pci", () => {
  const ne2k = (...extra: string[]) => {
    const m = Machine.create({ devices: [["ne2k_pci", ...extra].join(",")] });
    mapBar(m, 0, IO);
    return m;
  };
  const page = (m: Machine) => Array.from({ length: 16 }, (_, i) => m.ioRead(IO + i, 1));
  /** Remote DMA read of `count` bytes from NIC memory `address`, byte-wide. */
  const remoteRead = (m: Machine, address: number, count: number) => {
    m.ioWrite(IO, 1, 0x21); // page 0, stop remote DMA
    m.ioWrite(IO + 0x0e, 1, 0x48); // DCR: byte-wide
    m.ioWrite(IO + 0x0a, 1, count & 0xff);
    m.ioWrite(IO + 0x0b, 1, count >> 8);
    m.ioWrite(IO + 0x08, 1, address & 0xff);
    m.ioWrite(IO + 0x09, 1, address >> 8);
    m.ioWrite(IO, 1, 0x0a); // remote read, start
    return Array.from({ length: count }, () => m.ioRead(IO + 0x10, 1));
  };

  it("BAR 0 reads back 0xffffff01 (256 ports); the ROM BAR is 256 KiB on 7.2 and 128 KiB (pxe-ne2k_pci.rom) on 1.4", () => {
    expect(sizeBar(Machine.create({ devices: ["ne2k_pci"] }), 0x10)).toBe(0xffffff01);
    expect(sizeBar(Machine.create({ devices: ["ne2k_pci"] }), 0x30)).toBe(0xfffc0001);
    expect(sizeBar(Machine.create({ machine: "pc-i440fx-1.4", devices: ["ne2k_pci"] }), 0x30)).toBe(0xfffe0001);
  });

  it("after reset: page 0 shows ISR reset-complete and the RTL8029 id 'PC'; pages 1-3 as QEMU shows them", () => {
    const m = ne2k();
    expect(page(m)).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x50, 0x43, 0, 0, 0, 0]);
    const pages = [1, 2, 3].map((p) => {
      m.ioWrite(IO, 1, p << 6);
      return page(m);
    });
    expect(pages).toEqual([
      [0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0xc0, 0, 0, 0, 0, 0x40, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
  });

  it("ne2k reads its MAC from the address PROM by remote DMA: each byte twice, then 'WW'; then remote DMA complete", () => {
    const m = ne2k();
    expect(remoteRead(m, 0, 32)).toEqual([
      0x52,
      0x52,
      0x54,
      0x54,
      0x00,
      0x00,
      0x12,
      0x12,
      0x34,
      0x34,
      0x56,
      0x56,
      ...Array(16).fill(0),
      0x57,
      0x57,
      0x57,
      0x57,
    ]);
    expect([m.ioRead(IO + 7, 1), m.ioRead(IO, 1)]).toEqual([0x40, 0x0a]);
    expect([m.ioRead(IO + 0x10, 1), m.ioRead(IO + 8, 1), m.ioRead(IO + 9, 1)]).toEqual([0xff, 0x21, 0]);
  });

  it("PAR0-5 start at 0 and hold what the driver copies there", () => {
    const m = ne2k();
    m.ioWrite(IO, 1, 0x40);
    expect(page(m).slice(1, 7)).toEqual([0, 0, 0, 0, 0, 0]);
    [0x52, 0x54, 0, 0x12, 0x34, 0x56].forEach((b, i) => m.ioWrite(IO + 1 + i, 1, b));
    expect(page(m).slice(1, 7)).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  });

  it("only byte accesses reach the registers: wider ones and unused ports read all ones", () => {
    const m = ne2k();
    expect([
      m.ioRead(IO, 2),
      m.ioRead(IO, 4),
      m.ioRead(IO + 2, 2),
      m.ioRead(IO + 0x11, 1),
      m.ioRead(IO + 0x20, 1),
      m.ioRead(IO + 0x1e, 2),
    ]).toEqual([0xffff, 0xffffffff, 0xffff, 0xff, 0xff, 0xffff]);
  });

  it("word-wide remote DMA writes packet RAM and reads it back; the transfer count ends it with RDC", () => {
    const m = ne2k();
    m.ioWrite(IO, 1, 0x21);
    m.ioWrite(IO + 0x0e, 1, 0x49); // DCR: word-wide
    m.ioWrite(IO + 0x07, 1, 0xff); // clear ISR
    m.ioWrite(IO + 0x0a, 1, 4);
    m.ioWrite(IO + 0x0b, 1, 0);
    m.ioWrite(IO + 0x08, 1, 0x00);
    m.ioWrite(IO + 0x09, 1, 0x40);
    m.ioWrite(IO, 1, 0x12); // remote write, start
    m.ioWrite(IO + 0x10, 2, 0xbeef);
    m.ioWrite(IO + 0x10, 2, 0xcafe);
    expect(m.ioRead(IO + 7, 1)).toBe(0x40);
    m.ioWrite(IO + 0x07, 1, 0x40);
    m.ioWrite(IO + 0x0a, 1, 4);
    m.ioWrite(IO + 0x08, 1, 0x00);
    m.ioWrite(IO + 0x09, 1, 0x40);
    m.ioWrite(IO, 1, 0x0a);
    expect([m.ioRead(IO + 0x10, 2), m.ioRead(IO + 0x10, 2)]).toEqual([0xbeef, 0xcafe]);
  });

  it("reading the reset port resets the chip; a system reset leaves its registers alone, as in QEMU", () => {
    const m = ne2k();
    m.ioWrite(IO, 1, 0x40);
    m.ioWrite(IO + 1, 1, 0xaa);
    m.ioWrite(IO, 1, 0x00);
    expect(m.ioRead(IO + 7, 1)).toBe(0);
    m.reset();
    mapBar(m, 0, IO);
    m.ioWrite(IO, 1, 0x40);
    expect(m.ioRead(IO + 1, 1)).toBe(0xaa);
    m.ioWrite(IO, 1, 0x00);
    expect([m.ioRead(IO + 7, 1), m.ioRead(IO + 0x1f, 1), m.ioRead(IO + 7, 1)]).toEqual([0, 0, 0x80]);
  });

  it("an unmasked ISR bit raises INTA", () => {
    const m = ne2k();
    const status = () => (m.configRead(0, SLOT2, 0x04) >>> 16) & 0x08;
    m.ioWrite(IO + 0x0f, 1, 0x40); // IMR: remote DMA complete
    m.ioWrite(IO, 1, 0x0a); // zero-length remote read completes at once
    expect(status()).toBe(0x08);
    m.ioWrite(IO + 0x07, 1, 0x40);
    expect(status()).toBe(0);
  });

  it("a snapshot brings back the registers and the NIC memory", () => {
    const src = ne2k();
    src.ioWrite(IO, 1, 0x40);
    src.ioWrite(IO + 3, 1, 0x77);
    const dst = Machine.create({ devices: ["ne2k_pci"] });
    dst.load(src.save());
    expect([dst.ioRead(IO, 1), dst.ioRead(IO + 3, 1)]).toEqual([0x40, 0x77]);
  });
});

describe("NIC MAC addresses", () => {
  it("info qtree lists each NIC's properties as QEMU does, on pc-i440fx-7.2 and with 1.4's compat properties", () => {
    for (const driver of ["e1000", "rtl8139", "ne2k_pci"]) {
      for (const machine of ["pc-i440fx-7.2", "pc-i440fx-1.4"]) {
        const m = Machine.create({ machine, devices: [driver] });
        expect(qtreeBlock(formatQtree(m), driver)).toEqual(qtreeBlock(readText(`qtree/${driver}@${machine}.txt`), driver));
      }
    }
  });

  it("NICs without mac= get consecutive addresses, skipping one given explicitly (QEMU: 57 given, then 56, 58)", () => {
    const m = Machine.create({ devices: ["e1000,mac=52:54:00:12:34:57", "rtl8139", "ne2k_pci", "e1000,mac=02:00:00:00:00:59", "e1000"] });
    mapBar(m, 0, MMIO, 2 << 3);
    mapBar(m, 0, IO, 3 << 3);
    mapBar(m, 0, IO + 0x100, 4 << 3);
    mapBar(m, 0, MMIO + 0x20000, 6 << 3);
    expect(m.memRead(MMIO + 0x5404, 4) & 0xffff).toBe(0x5734);
    expect(m.ioRead(IO + 5, 1)).toBe(0x56);
    m.ioWrite(IO + 0x100 + 0x0e, 1, 0x48);
    m.ioWrite(IO + 0x100 + 0x0a, 1, 12);
    m.ioWrite(IO + 0x100, 1, 0x0a);
    const prom = Array.from({ length: 12 }, () => m.ioRead(IO + 0x110, 1));
    expect(prom.filter((_, i) => i % 2 === 0)).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x58]);
    expect(m.memRead(MMIO + 0x20000 + 0x5404, 4) & 0xffff).toBe(0x5934);
  });

  it("info qtree shows the address each NIC got, as QEMU's does", () => {
    const m = Machine.create({ devices: ["rtl8139", "ne2k_pci", "e1000"] });
    const macs = formatQtree(m)
      .split("\n")
      .filter((l) => l.includes("mac = "))
      .map((l) => l.trim());
    expect(macs).toEqual(['mac = "52:54:00:12:34:58"', 'mac = "52:54:00:12:34:57"', 'mac = "52:54:00:12:34:56"']);
  });

  it("an unplugged NIC gives its address back", () => {
    const m = Machine.create({ devices: ["e1000,id=a"] });
    const mac = (id: string) => (m.findDevice(id) as unknown as { macAddress: string }).macAddress;
    m.addDevice("rtl8139,id=b");
    expect([mac("a"), mac("b")]).toEqual(["52:54:00:12:34:56", "52:54:00:12:34:57"]);
    m.removeDevice("b");
    m.addDevice("ne2k_pci,id=c");
    expect(mac("c")).toBe("52:54:00:12:34:57");
  });

  it("an address two NICs were given stays taken until both are unplugged, as QEMU counts its users", () => {
    const m = Machine.create({ devices: ["e1000,id=a,mac=52:54:00:12:34:56", "rtl8139,id=b,mac=52:54:00:12:34:56"] });
    const mac = (id: string) => (m.findDevice(id) as unknown as { macAddress: string }).macAddress;
    m.removeDevice("a");
    m.addDevice("ne2k_pci,id=c");
    expect(mac("c")).toBe("52:54:00:12:34:57");
    m.removeDevice("b");
    m.addDevice("e1000,id=d");
    expect(mac("d")).toBe("52:54:00:12:34:56");
  });
});
