import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { probeBar } from "./support/config-cycles.js";
import { configDword } from "./support/qemu-fixtures.js";
import { labelled, labelledOne, readValues, replayMatchesQemu, scans } from "./support/register-fixtures.js";
import "../devices/lsi53c895a.js";
import "../devices/intel-hda.js";

// Register facts come from QEMU 7.2: config space from the config fixtures, registers through the
// scenarios of test/fixtures/qemu/registers (regenerate-registers.mjs), replayed on machbus.

/** Every device here sits at 00:02.0. */
const DEVFN = 2 << 3;

function machine(devices: string[], type = "pc"): Machine {
  return Machine.create({ machine: type, devices });
}
const cfg = (m: Machine, offset: number, size: 1 | 2 | 4 = 4): number => m.configRead(0, DEVFN, offset, size);
const probe = (m: Machine, offset: number): number => probeBar(m, DEVFN, offset);
/** A byte or word of a config fixture's reset dword. */
const qemuCfg = (name: string, offset: number, size: 1 | 2 | 4 = 4): number =>
  size === 4
    ? configDword(name, "reset", offset)
    : (configDword(name, "reset", offset & ~3) >>> (8 * (offset & 3))) & (size === 1 ? 0xff : 0xffff);
const sizeOfMask = (mask: number): number => (~(mask & (mask & 1 ? ~3 : ~0xf)) + 1) >>> 0;

describe("lsi53c895a", () => {
  const LSI = "lsi53c895a@pc-i440fx-7.2";
  it("lsi53c895a is 1000:0012 with subsystem 0000:1000, INTA and a latency timer of 0xff", () => {
    const m = machine(["lsi53c895a"]);
    const at: [number, 1 | 4][] = [
      [0x00, 4],
      [0x2c, 4],
      [0x0d, 1],
      [0x3d, 1],
    ];
    expect(at.map(([o, size]) => cfg(m, o, size))).toEqual(at.map(([o, size]) => qemuCfg(LSI, o, size)));
    const [ids, subsystem, latency, pin] = at.map(([o, size]) => qemuCfg(LSI, o, size)) as [number, number, number, number];
    expect([ids & 0xffff, ids >>> 16, subsystem & 0xffff, subsystem >>> 16, latency, pin]).toEqual([
      0x1000, 0x0012, 0x0000, 0x1000, 0xff, 1,
    ]);
  });

  it("its BARs are 256 I/O ports, 1 KiB of registers and 8 KiB of SCRIPTS RAM", () => {
    const m = machine(["lsi53c895a"]);
    const masks = [0x10, 0x14, 0x18].map((bar) => configDword(LSI, "writeOnes", bar));
    expect([0x10, 0x14, 0x18].map((bar) => probe(m, bar))).toEqual(masks);
    expect(masks.map(sizeOfMask)).toEqual([256, 1024, 8192]);
    expect(masks.map((mask) => mask & 1)).toEqual([1, 0, 0]);
  });

  it("the operating registers read QEMU's reset values through the I/O BAR", () => {
    const { qemu } = replayMatchesQemu("lsi-reset");
    const [low] = scans(qemu);
    expect(readValues(qemu)).toEqual([low![0], 0xffffffff]); // a dword at SCNTL0 is SCNTL0..SCNTL3; nothing at 0xe0
  });

  it("the memory BAR repeats the same registers every 256 bytes", () => {
    const { qemu } = replayMatchesQemu("lsi-mmio-mirror");
    expect(labelled(qemu, "SCRATCHB")).toEqual([0x12345678, 0x12345678, 0x12345678]);
    expect(new Set(labelled(qemu, "SCNTL0")).size).toBe(1);
  });

  it("constant registers ignore writes", () => {
    const { qemu } = replayMatchesQemu("lsi-constant-registers");
    expect(readValues(qemu).every((v) => v !== 0)).toBe(true);
  });

  it("the SCRIPTS RAM holds what the guest writes", () => {
    const { qemu } = replayMatchesQemu("lsi-scripts-ram");
    expect(readValues(qemu)).toEqual([0xdeadbeef, 0xdead]);
  });
});

describe("intel-hda", () => {
  const HDA = "intel-hda@pc-i440fx-7.2";
  it("intel-hda's MSI capability is at 0x60 on pc and 0x50 on pc-i440fx-1.4", () => {
    for (const [type, name] of [
      ["pc", HDA],
      ["pc-i440fx-1.4", "intel-hda@pc-i440fx-1.4"],
    ] as const) {
      const m = machine(["intel-hda"], type);
      const at = qemuCfg(name, 0x34, 1);
      expect([cfg(m, 0x34, 1), cfg(m, at)]).toEqual([at, qemuCfg(name, at)]);
      expect(qemuCfg(name, at) & 0xffff).toBe(0x0005); // MSI, end of list
    }
    expect([qemuCfg(HDA, 0x34, 1), qemuCfg("intel-hda@pc-i440fx-1.4", 0x34, 1)]).toEqual([0x60, 0x50]);
  });

  it("old_msi_addr=on places MSI at 0x50 on pc, as pc-i440fx-2.1 and older do through their compat properties", () => {
    const { qemu } = replayMatchesQemu("hda-old_msi_addr=on");
    expect(labelledOne(qemu, "capability pointer")).toBe(0x50);
    expect(readValues(qemu).slice(2)).toEqual([qemuCfg(HDA, 0x60), 0]); // the capability moved from 0x60 to 0x50
  });

  it("msi=off leaves intel-hda without a capability list", () => {
    const { qemu } = replayMatchesQemu("hda-msi=off");
    expect([labelledOne(qemu, "status") & 0x10, labelledOne(qemu, "capability pointer")]).toEqual([0, 0]);
  });

  it("intel-hda is 8086:2668 rev 1, an HD audio controller with INTA, HDCTL selecting HD Audio, and a 16 KiB BAR", () => {
    const m = machine(["intel-hda"]);
    const at: [number, 1 | 4][] = [
      [0x00, 4],
      [0x08, 4],
      [0x3d, 1],
      [0x40, 1],
    ];
    expect(at.map(([o, size]) => cfg(m, o, size))).toEqual(at.map(([o, size]) => qemuCfg(HDA, o, size)));
    const [ids, classRev, pin, hdctl] = at.map(([o, size]) => qemuCfg(HDA, o, size)) as [number, number, number, number];
    expect([ids & 0xffff, ids >>> 16, classRev >>> 16, classRev & 0xff, pin, hdctl]).toEqual([0x8086, 0x2668, 0x0403, 1, 1, 1]);
    expect(probe(m, 0x10)).toBe(configDword(HDA, "writeOnes", 0x10));
    expect(sizeOfMask(configDword(HDA, "writeOnes", 0x10))).toBe(16 * 1024);
  });

  it("the controller registers reset to QEMU's values: GCAP 0x4401, version 1.0, payloads, ring sizes, FIFO-ready streams", () => {
    const { qemu } = replayMatchesQemu("hda-reset");
    const gcap = labelledOne(qemu, "GCAP");
    expect([gcap >> 12, (gcap >> 8) & 0xf, gcap & 1]).toEqual([4, 4, 1]); // output streams, input streams, 64-bit
    expect([labelledOne(qemu, "VMAJ"), labelledOne(qemu, "VMIN")]).toEqual([1, 0]);
    expect(labelled(qemu, "SDnSTS").every((v) => v & 0x20)).toBe(true); // FIFO ready
  });

  it("a register answers only at its first byte, and a dword read of GCAP returns GCAP alone", () => {
    const { qemu } = replayMatchesQemu("hda-register-width");
    const gcap = labelledOne(replayMatchesQemu("hda-reset").qemu, "GCAP");
    expect(readValues(qemu).slice(0, 2)).toEqual([gcap, 0]);
  });

  it("writes keep only the writable bits and clear write-one-to-clear bits", () => {
    const { qemu } = replayMatchesQemu("hda-writes");
    expect([labelledOne(qemu, "INTSTS"), labelledOne(qemu, "RIRBWP")]).toEqual([0, 0]); // nothing pending; RIRBWP reset
    expect(labelledOne(qemu, "ICS") & 0x2).toBe(0); // valid is write-one-to-clear
    expect(labelledOne(qemu, "GCTL at 0x2008")).toBe(labelledOne(qemu, "GCTL")); // the registers repeat at 0x2000
  });

  it("a stream reset reads back set with FIFO ready; stream status bits are write-one-to-clear", () => {
    const [reset, format, cleared] = labelled(replayMatchesQemu("hda-stream-reset").qemu, "SD0CTL/STS");
    const [SRST, FIFORDY] = [0x1, 0x20 << 24];
    expect([reset! & SRST, (reset! & FIFORDY) >>> 0, format! & 0xffffff]).toEqual([SRST, FIFORDY, 0x140002]);
    expect(cleared).toBe(format);
  });

  it("with no codec on the link, running CORB consumes verbs up to the write pointer once RINTCNT is set", () => {
    const { qemu } = replayMatchesQemu("hda-corb");
    const stalled = labelledOne(qemu, "CORBRP stalled");
    expect(stalled & 0xff).not.toBe(5); // response count 0 = RINTCNT 0: stalled
    expect(labelledOne(qemu, "CORBRP")).toBe(9);
  });

  it("clearing CRST in GCTL resets the controller registers", () => {
    const { qemu } = replayMatchesQemu("hda-crst");
    const reset = replayMatchesQemu("hda-reset").qemu;
    expect([labelledOne(qemu, "GCTL"), labelledOne(qemu, "INTCTL"), labelledOne(qemu, "CORBSIZE")]).toEqual([
      0,
      0,
      labelledOne(reset, "CORBSIZE"),
    ]);
    expect(labelledOne(qemu, "SD0CTL/STS") >>> 24).toBe(labelled(reset, "SDnSTS")[0]);
  });
});
