import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { probeBar } from "./support/config-cycles.js";
import "../devices/lsi53c895a.js";
import "../devices/intel-hda.js";

/** Every device here sits at 00:02.0. */
const DEVFN = 2 << 3;
const IO_BASE = 0xc000;
const MMIO_BASE = 0xfe000000;
const RAM_BASE = 0xfe002000;

function machine(devices: string[], type = "pc"): Machine {
  return Machine.create({ machine: type, devices });
}
const cfg = (m: Machine, offset: number, size: 1 | 2 | 4 = 4): number => m.configRead(0, DEVFN, offset, size);
const setCfg = (m: Machine, offset: number, value: number, size: 1 | 2 | 4 = 4): void => m.configWrite(0, DEVFN, offset, size, value);
const probe = (m: Machine, offset: number): number => probeBar(m, DEVFN, offset);

describe("lsi53c895a", () => {
  it("lsi53c895a is 1000:0012 with subsystem 0000:1000, INTA and a latency timer of 0xff", () => {
    const m = machine(["lsi53c895a"]);
    expect(cfg(m, 0x00)).toBe(0x00121000);
    expect(cfg(m, 0x2c)).toBe(0x10000000);
    expect(cfg(m, 0x0d, 1)).toBe(0xff);
    expect(cfg(m, 0x3d, 1)).toBe(1);
  });

  it("its BARs are 256 I/O ports, 1 KiB of registers and 8 KiB of SCRIPTS RAM", () => {
    const m = machine(["lsi53c895a"]);
    expect([0x10, 0x14, 0x18].map((bar) => probe(m, bar))).toEqual([0xffffff01, 0xfffffc00, 0xffffe000]);
  });

  function mapped(): Machine {
    const m = machine(["lsi53c895a"]);
    setCfg(m, 0x10, IO_BASE);
    setCfg(m, 0x14, MMIO_BASE);
    setCfg(m, 0x18, RAM_BASE);
    setCfg(m, 0x04, 0x0003, 2);
    return m;
  }

  it("the operating registers read QEMU's reset values through the I/O BAR", () => {
    const m = mapped();
    const bytes = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => m.ioRead(IO_BASE + from + i, 1));
    expect(bytes(0x00, 0x20)).toEqual([
      0xc0, 0, 0, 0, 0x07, 0, 0, 0x7f, 0, 0, 0, 0, 0x80, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0x11, 0, 0, 0, 0, 0,
    ]);
    expect(bytes(0x44, 0x12)).toEqual([0xff, 0xff, 0x0f, 0x0f, 0, 0xff, 0x80, 0, 0xff, 0, 0, 0, 0, 0xff, 0xe0, 0xff, 0xff, 0xff]);
    expect(m.ioRead(IO_BASE, 4)).toBe(0x000000c0);
    expect(m.ioRead(IO_BASE + 0xe0, 4)).toBe(0xffffffff);
  });

  it("the memory BAR repeats the same registers every 256 bytes", () => {
    const m = mapped();
    m.ioWrite(IO_BASE + 0x5c, 4, 0x12345678); // SCRATCHB
    for (const base of [0x000, 0x100, 0x300]) {
      expect(m.memRead(MMIO_BASE + base, 1)).toBe(0xc0);
      expect(m.memRead(MMIO_BASE + base + 0x5c, 4)).toBe(0x12345678);
    }
  });

  it("constant registers ignore writes", () => {
    const m = mapped();
    for (const reg of [0x46, 0x52, 0x49, 0xe0]) m.ioWrite(IO_BASE + reg, 1, 0);
    expect([0x46, 0x52, 0x49, 0xe0].map((reg) => m.ioRead(IO_BASE + reg, 1))).toEqual([0x0f, 0xe0, 0xff, 0xff]);
  });

  it("the SCRIPTS RAM holds what the guest writes", () => {
    const m = mapped();
    m.memWrite(RAM_BASE + 0x1ffc, 4, 0xdeadbeef);
    expect(m.memRead(RAM_BASE + 0x1ffc, 4)).toBe(0xdeadbeef);
    expect(m.memRead(RAM_BASE + 0x1ffe, 2)).toBe(0xdead);
  });
});

describe("intel-hda", () => {
  it("intel-hda's MSI capability is at 0x60 on pc and 0x50 on pc-i440fx-1.4", () => {
    const pc = machine(["intel-hda"]);
    expect(cfg(pc, 0x34, 1)).toBe(0x60);
    expect(cfg(pc, 0x60)).toBe(0x00800005); // MSI, 64-bit, one vector, end of list
    const old = machine(["intel-hda"], "pc-i440fx-1.4");
    expect(cfg(old, 0x34, 1)).toBe(0x50);
    expect(cfg(old, 0x50)).toBe(0x00800005);
  });

  it("old_msi_addr=on places MSI at 0x50 on pc, as pc-i440fx-2.1 and older do through their compat properties", () => {
    const m = machine(["intel-hda,old_msi_addr=on"]);
    expect(cfg(m, 0x34, 1)).toBe(0x50);
    expect(cfg(m, 0x60)).toBe(0);
  });

  it("msi=off leaves intel-hda without a capability list", () => {
    const m = machine(["intel-hda,msi=off"]);
    expect(cfg(m, 0x06, 2) & 0x10).toBe(0);
    expect(cfg(m, 0x34, 1)).toBe(0);
  });

  it("intel-hda is 8086:2668 rev 1, an HD audio controller with INTA, HDCTL selecting HD Audio, and a 16 KiB BAR", () => {
    const m = machine(["intel-hda"]);
    expect(cfg(m, 0x00)).toBe(0x26688086);
    expect(cfg(m, 0x08)).toBe(0x04030001);
    expect(cfg(m, 0x3d, 1)).toBe(1);
    expect(cfg(m, 0x40, 1)).toBe(1);
    expect(probe(m, 0x10)).toBe(0xffffc000);
  });

  function mapped(devices = ["intel-hda"]): Machine {
    const m = machine(devices);
    setCfg(m, 0x10, MMIO_BASE);
    setCfg(m, 0x04, 0x0002, 2);
    return m;
  }
  const r = (m: Machine, offset: number, size: 1 | 2 | 4): number => m.memRead(MMIO_BASE + offset, size);
  const w = (m: Machine, offset: number, size: 1 | 2 | 4, value: number): void => m.memWrite(MMIO_BASE + offset, size, value);

  it("the controller registers reset to QEMU's values: GCAP 0x4401, version 1.0, payloads, ring sizes, FIFO-ready streams", () => {
    const m = mapped();
    expect([r(m, 0x00, 2), r(m, 0x02, 1), r(m, 0x03, 1), r(m, 0x04, 2), r(m, 0x06, 2)]).toEqual([0x4401, 0, 1, 0x3c, 0x1d]);
    expect([r(m, 0x4e, 1), r(m, 0x5e, 1)]).toEqual([0x42, 0x42]);
    for (let n = 0; n < 8; n++) expect(r(m, 0x83 + n * 0x20, 1)).toBe(0x20);
  });

  it("a register answers only at its first byte, and a dword read of GCAP returns GCAP alone", () => {
    const m = mapped();
    expect(r(m, 0x00, 4)).toBe(0x4401);
    expect(r(m, 0x01, 1)).toBe(0);
    expect(r(m, 0x01, 4)).toBe(0x3c000000);
    expect(r(m, 0x02, 4)).toBe(0x003c0000);
  });

  it("writes keep only the writable bits and clear write-one-to-clear bits", () => {
    const m = mapped();
    w(m, 0x08, 4, 0xffffffff);
    expect(r(m, 0x08, 4)).toBe(0x103); // GCTL
    w(m, 0x20, 4, 0xffffffff);
    expect(r(m, 0x20, 4)).toBe(0xc00000ff); // INTCTL
    expect(r(m, 0x24, 4)).toBe(0); // INTSTS: nothing pending
    w(m, 0x4a, 2, 0xffff);
    expect(r(m, 0x4a, 2)).toBe(0x80ff); // CORBRP
    w(m, 0x68, 2, 3);
    expect(r(m, 0x68, 2)).toBe(1); // ICS: busy stays, valid is write-one-to-clear
    w(m, 0x58, 2, 0x8000);
    expect(r(m, 0x58, 2)).toBe(0); // RIRBWP reset
    expect(r(m, 0x2008, 4)).toBe(0x103); // the registers repeat at 0x2000
  });

  it("a stream reset reads back set with FIFO ready; stream status bits are write-one-to-clear", () => {
    const m = mapped();
    w(m, 0x80, 4, 0xffffffff);
    expect(r(m, 0x80, 4)).toBe(0x20000001);
    w(m, 0x80, 4, 0x00140002);
    expect(r(m, 0x80, 4)).toBe(0x20140002);
    w(m, 0x83, 1, 0x1c);
    expect(r(m, 0x80, 4)).toBe(0x20140002);
  });

  it("with no codec on the link, running CORB consumes verbs up to the write pointer once RINTCNT is set", () => {
    const m = mapped();
    w(m, 0x4a, 2, 0xffff);
    w(m, 0x48, 2, 5);
    w(m, 0x4c, 1, 0x02);
    expect(r(m, 0x4a, 2)).toBe(0x80ff); // response count 0 = RINTCNT 0: stalled
    w(m, 0x5a, 2, 1);
    w(m, 0x48, 2, 9);
    expect(r(m, 0x4a, 2)).toBe(9);
  });

  it("clearing CRST in GCTL resets the controller registers", () => {
    const m = mapped();
    w(m, 0x08, 4, 1);
    w(m, 0x20, 4, 0xffffffff);
    w(m, 0x80, 4, 0x00140002);
    w(m, 0x08, 4, 0);
    expect([r(m, 0x08, 4), r(m, 0x20, 4), r(m, 0x80, 4), r(m, 0x4e, 1)]).toEqual([0, 0, 0x20000000, 0x42]);
  });
});
