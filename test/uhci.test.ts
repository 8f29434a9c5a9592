import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import "../devices/piix3-usb-uhci.js";
import { configDword, readText } from "./support/qemu-fixtures.js";
import { labelled, labelledOne, replayMatchesQemu, scans } from "./support/register-fixtures.js";

// Register facts come from QEMU 7.2 through the scenarios of test/fixtures/qemu/registers
// (regenerate-registers.mjs, BAR 4 at 0xc000): a test replays one on machbus and compares every read.

const SLOT2 = 2 << 3;
const QEMU_72 = "piix3-usb-uhci@pc-i440fx-7.2";
/** USBCMD, USBSTS, USBINTR, FRNUM, FLBASEADD (2 words), SOFMOD, PORTSC1, PORTSC2 in a scan of the 16 words. */
const [USBSTS, FRNUM, SOFMOD, PORTSC1, PORTSC2] = [1, 3, 6, 8, 9];
const USBSTS_HALTED = 0x20;

describe("piix3-usb-uhci", () => {
  it("BAR 4 is 32 ports; INTD; release number 0x10 at 0x60, USB clock 1 at 0x6a, as on QEMU", () => {
    const m = Machine.create({ devices: ["piix3-usb-uhci"] });
    for (const off of [0x3c, 0x60, 0x68]) expect(m.configRead(0, SLOT2, off)).toBe(configDword(QEMU_72, "reset", off));
    expect([(configDword(QEMU_72, "reset", 0x3c) >>> 8) & 0xff, configDword(QEMU_72, "reset", 0x60) & 0xff]).toEqual([4, 0x10]);
    expect((configDword(QEMU_72, "reset", 0x68) >>> 16) & 0xff).toBe(1);
    m.configWrite(0, SLOT2, 0x20, 4, 0xffffffff);
    const mask = configDword(QEMU_72, "writeOnes", 0x20);
    expect(m.configRead(0, SLOT2, 0x20)).toBe(mask);
    expect([mask & 1, (~(mask & ~3) + 1) >>> 0]).toEqual([1, 32]);
  });

  it("after reset the registers read as on QEMU by byte, word and dword: halted, SOF timing 64, two ports with bit 7 set", () => {
    const [, words] = scans(replayMatchesQemu("uhci-reset").qemu);
    // a byte access reads the 16-bit register at its own offset; odd offsets name no register
    expect([words![USBSTS], words![SOFMOD], words![PORTSC1]! & 0x80, words![PORTSC2]! & 0x80]).toEqual([USBSTS_HALTED, 64, 0x80, 0x80]);
  });

  it("writes land as on QEMU: frame list base keeps 4 KiB alignment, PORTSC cannot be enabled without a device", () => {
    const [before, after] = scans(replayMatchesQemu("uhci-writes").qemu);
    expect(before![4]! & 0xfff).toBe(0); // FLBASEADD low word: 4 KiB aligned
    expect(before![PORTSC1]! & 0x4).toBe(0); // port enable
    expect(after![5]).toBe(0x1234); // a dword write at 0x08 fills both FLBASEADD words
  });

  it("Run/Stop clears the halted bit and stopping sets it; FRNUM is writable only while halted", () => {
    const { qemu } = replayMatchesQemu("uhci-run-stop");
    const [cmd, sts, frnum] = labelled(qemu, "running") as [number, number, number];
    const [cmdHalted, stsHalted, frnumHalted] = labelled(qemu, "halted") as [number, number, number];
    expect([cmd, sts & USBSTS_HALTED, frnum]).toEqual([0x00c1, 0, 0]);
    expect([cmdHalted, stsHalted & USBSTS_HALTED, frnumHalted]).toEqual([0, USBSTS_HALTED, 0x0805 & 0x7ff]);
  });

  it("HCRESET and GRESET restore the reset values (not FRNUM) and the USB clock byte in config space", () => {
    const [, reset] = scans(replayMatchesQemu("uhci-reset").qemu);
    for (const name of ["uhci-hcreset", "uhci-greset"]) {
      const { qemu } = replayMatchesQemu(name);
      const [words] = scans(qemu);
      expect(words!.map((w, i) => (i === FRNUM ? reset![i] : w))).toEqual(reset);
      expect(words![FRNUM]).toBe(0x0234);
      expect(labelledOne(qemu, "USB clock")).toBe(configDword(QEMU_72, "reset", 0x68));
    }
  });

  it("a system reset restores the USB clock byte QEMU's reset sets", () => {
    const { qemu } = replayMatchesQemu("uhci-system-reset");
    expect(labelledOne(qemu, "written")).toBe(0xffffffff);
    expect((labelledOne(qemu, "after reset") >>> 16) & 0xff).toBe(1);
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
    replayMatchesQemu("uhci-snapshot");
  });
});
