import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import "../devices/piix3-usb-uhci.js";
import { readText } from "./support/qemu-fixtures.js";

// Facts measured on qemu-system-x86_64 7.2 (qtest on a -S machine, BAR 4 at 0xc000).

const SLOT2 = 2 << 3;
const IO = 0xc000;

function uhci(): Machine {
  const m = Machine.create({ devices: ["piix3-usb-uhci"] });
  m.configWrite(0, SLOT2, 0x20, 4, IO);
  m.configWrite(0, SLOT2, 0x04, 2, 0x0005);
  return m;
}

/** All 32 ports read 16 bits at a time. */
const words = (m: Machine) =>
  Array.from({ length: 16 }, (_, i) =>
    m
      .ioRead(IO + 2 * i, 2)
      .toString(16)
      .padStart(4, "0"),
  ).join(" ");

describe("piix3-usb-uhci", () => {
  it("BAR 4 reads back 0xffffffe1 after all ones (32 ports); INTD; release number 0x10 at 0x60, USB clock 1 at 0x6a", () => {
    const m = Machine.create({ devices: ["piix3-usb-uhci"] });
    expect(m.configRead(0, SLOT2, 0x3c) >>> 8).toBe(0x04);
    expect([m.configRead(0, SLOT2, 0x60), m.configRead(0, SLOT2, 0x68)]).toEqual([0x10, 0x00010000]);
    m.configWrite(0, SLOT2, 0x20, 4, 0xffffffff);
    expect(m.configRead(0, SLOT2, 0x20)).toBe(0xffffffe1);
  });

  it("after reset the registers read as on QEMU by byte, word and dword: halted, SOF timing 64, two ports with bit 7 set", () => {
    const m = uhci();
    const bytes = Array.from({ length: 32 }, (_, i) =>
      m
        .ioRead(IO + i, 1)
        .toString(16)
        .padStart(2, "0"),
    ).join(" ");
    const dwords = Array.from({ length: 8 }, (_, i) =>
      m
        .ioRead(IO + 4 * i, 4)
        .toString(16)
        .padStart(8, "0"),
    ).join(" ");
    // A byte access reads the 16-bit register at its own offset; odd offsets name no register (0xff7f).
    expect(bytes).toBe("00 7f 20 7f 00 7f 00 7f 00 7f 00 7f 40 7f 7f 7f 80 80 80 80 7f 7f 7f 7f 7f 7f 7f 7f 7f 7f 7f 7f");
    expect(words(m)).toBe("0000 0020 0000 0000 0000 0000 0040 ff7f 0080 0080 ff7f ff7f ff7f ff7f ff7f ff7f");
    expect(dwords).toBe("00200000 00000000 00000000 ff7f0040 00800080 ff7fff7f ff7fff7f ff7fff7f");
  });

  it("writes land as on QEMU: frame list base keeps 4 KiB alignment, PORTSC cannot be enabled without a device", () => {
    const m = uhci();
    m.ioWrite(IO + 0x06, 2, 0x1234);
    m.ioWrite(IO + 0x08, 2, 0xffff);
    m.ioWrite(IO + 0x0a, 2, 0xabcd);
    m.ioWrite(IO + 0x0c, 2, 0x01ff);
    m.ioWrite(IO + 0x04, 2, 0x000f);
    m.ioWrite(IO + 0x10, 2, 0xffff);
    m.ioWrite(IO + 0x12, 2, 0x0204);
    expect(words(m)).toBe("0000 0020 000f 0234 f000 abcd 00ff ff7f fec0 0280 ff7f ff7f ff7f ff7f ff7f ff7f");
    m.ioWrite(IO + 0x11, 1, 0x42); // a byte write at an odd offset writes PORTSC1 with that byte
    m.ioWrite(IO + 0x08, 4, 0x12345678);
    expect(words(m)).toBe("0000 0020 000f 0234 5000 1234 00ff ff7f 00c0 0280 ff7f ff7f ff7f ff7f ff7f ff7f");
  });

  it("Run/Stop clears the halted bit and stopping sets it; FRNUM is writable only while halted", () => {
    const m = uhci();
    m.ioWrite(IO, 2, 0x00c1);
    m.ioWrite(IO + 0x06, 2, 0x0005);
    m.ioWrite(IO + 0x02, 2, 0xffff);
    expect([m.ioRead(IO, 2), m.ioRead(IO + 2, 2), m.ioRead(IO + 6, 2)]).toEqual([0x00c1, 0x0000, 0x0000]);
    m.ioWrite(IO, 2, 0);
    m.ioWrite(IO + 0x06, 2, 0x0805);
    expect([m.ioRead(IO, 2), m.ioRead(IO + 2, 2), m.ioRead(IO + 6, 2)]).toEqual([0x0000, 0x0020, 0x0005]);
  });

  it("HCRESET and GRESET restore the reset values (not FRNUM) and the USB clock byte in config space", () => {
    for (const reset of [0x0002, 0x0004]) {
      const m = uhci();
      m.ioWrite(IO + 0x06, 2, 0x0234);
      m.ioWrite(IO + 0x08, 4, 0x12345678);
      m.ioWrite(IO + 0x04, 2, 0x000f);
      m.ioWrite(IO + 0x10, 2, 0xffff);
      m.configWrite(0, SLOT2, 0x68, 4, 0);
      m.ioWrite(IO, 2, reset);
      expect(words(m)).toBe("0000 0020 0000 0234 0000 0000 0040 ff7f 0080 0080 ff7f ff7f ff7f ff7f ff7f ff7f");
      expect(m.configRead(0, SLOT2, 0x68)).toBe(0x00010000);
    }
  });

  it("a system reset restores the USB clock byte QEMU's reset sets", () => {
    const m = uhci();
    m.configWrite(0, SLOT2, 0x68, 4, 0xffffffff);
    expect(m.configRead(0, SLOT2, 0x68)).toBe(0xffffffff);
    m.reset();
    expect(m.configRead(0, SLOT2, 0x68)).toBe(0x0001ffff);
  });

  it("info qtree lists its properties as QEMU does, on pc-i440fx-7.2 and 1.4", () => {
    const block = (text: string) => {
      const lines = text.split("\n");
      const start = lines.findIndex((l) => l.includes("dev: piix3-usb-uhci,"));
      const end = lines.findIndex((l, i) => i > start && l.includes("bar 4:"));
      return lines.slice(start, end + 1).map((l) => l.trim());
    };
    for (const machine of ["pc-i440fx-7.2", "pc-i440fx-1.4"]) {
      const m = Machine.create({ machine, devices: ["piix3-usb-uhci"] });
      expect(block(formatQtree(m))).toEqual(block(readText(`qtree/piix3-usb-uhci@${machine}.txt`)));
    }
  });

  it("a snapshot brings back the registers", () => {
    const src = uhci();
    src.ioWrite(IO + 0x08, 4, 0x12345678);
    src.ioWrite(IO + 0x12, 2, 0x0200);
    src.ioWrite(IO, 2, 0x0001);
    const dst = Machine.create({ devices: ["piix3-usb-uhci"] });
    dst.load(src.save());
    expect(words(dst)).toBe("0001 0000 0000 0000 5000 1234 0040 ff7f 0080 0280 ff7f ff7f ff7f ff7f ff7f ff7f");
  });
});
