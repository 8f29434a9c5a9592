import { describe, expect, it } from "vitest";
import { Machine, type BarMappingEvent } from "../src/index.js";
import { configDword } from "./support/qemu-fixtures.js";
import { BarTestDevice } from "./support/test-devices.js";

const SLOT = 5;
const DEVFN = SLOT << 3;

function machine() {
  const m = Machine.create({ devices: [`test-bars,addr=${SLOT},id=t`], drivers: [BarTestDevice] });
  const cfg = {
    read: (off: number) => m.configRead(0, DEVFN, off),
    write: (off: number, v: number, size: 1 | 2 | 4 = 4) => m.configWrite(0, DEVFN, off, size, v),
  };
  return { m, cfg };
}

/** Sizing as firmware does it: write all ones, read the mask back, restore. */
function size(cfg: ReturnType<typeof machine>["cfg"], off: number): number {
  const old = cfg.read(off);
  cfg.write(off, 0xffffffff);
  const v = cfg.read(off);
  cfg.write(off, old);
  return v;
}

describe("BAR sizing reads back the size mask with the type bits", () => {
  it("I/O: upper 16 bits stay writable on QEMU (a 64-byte BAR reads as QEMU's e1000 BAR 1, also 64 ports)", () => {
    const qemu = configDword("e1000@pc-i440fx-7.2", "writeOnes", 0x14);
    expect(size(machine().cfg, 0x10)).toBe(qemu);
    expect(qemu >>> 16).toBe(0xffff);
  });
  it("32-bit memory: ~(size-1), type bits 0", () => {
    expect(size(machine().cfg, 0x14)).toBe(0xfffff000);
  });
  it("64-bit prefetchable memory: low dword has type 0xc, high dword all writable", () => {
    const { cfg } = machine();
    expect(size(cfg, 0x18)).toBe(0xfff0000c);
    expect(size(cfg, 0x1c)).toBe(0xffffffff);
  });
  it("32-bit prefetchable memory of 16 bytes", () => {
    expect(size(machine().cfg, 0x20)).toBe(0xfffffff8);
  });
  it("expansion ROM: size mask plus the writable enable bit", () => {
    expect(size(machine().cfg, 0x30)).toBe(0xffff0001);
  });
  it("unimplemented BARs read 0 and ignore writes", () => {
    expect(size(machine().cfg, 0x24)).toBe(0);
  });
});

describe("BAR mapping follows the command register and the BAR value", () => {
  it("emits bar-mapped when decoding is enabled with an address, and unmapped when disabled", () => {
    const { m, cfg } = machine();
    const events: [string, BarMappingEvent][] = [];
    m.events.on("bar-mapped", (e) => events.push(["mapped", e]));
    m.events.on("bar-unmapped", (e) => events.push(["unmapped", e]));
    cfg.write(0x14, 0xfebf0000);
    expect(events).toEqual([]); // memory decoding is still off
    cfg.write(0x04, 0x0002, 2);
    expect(events).toEqual([
      [
        "mapped",
        {
          device: "t",
          driver: "test-bars",
          bdf: "00:05.0",
          bar: 1,
          space: "memory",
          size: 4096,
          oldAddress: null,
          newAddress: 0xfebf0000n,
        },
      ],
    ]);
    cfg.write(0x14, 0xfebe0000);
    expect(events[1]).toEqual(["mapped", expect.objectContaining({ bar: 1, oldAddress: 0xfebf0000n, newAddress: 0xfebe0000n })]);
    cfg.write(0x04, 0, 2);
    expect(events[2]).toEqual(["unmapped", expect.objectContaining({ bar: 1, oldAddress: 0xfebe0000n, newAddress: null })]);
  });

  it("a mapped memory BAR serves memory-space accesses; an unmapped one reads all ones", () => {
    const { m, cfg } = machine();
    cfg.write(0x14, 0xfebf0000);
    cfg.write(0x04, 0x0002, 2);
    m.memWrite(0xfebf0010, 4, 0xdeadbeef);
    expect(m.memRead(0xfebf0010, 4)).toBe(0xdeadbeef);
    expect(m.memRead(0xfebf0012, 2)).toBe(0xdead);
    cfg.write(0x04, 0, 2);
    expect(m.memRead(0xfebf0010, 4)).toBe(0xffffffff);
  });

  it("an I/O BAR maps into the I/O space when I/O decoding is on", () => {
    const { m, cfg } = machine();
    cfg.write(0x10, 0xc001);
    cfg.write(0x04, 0x0001, 2);
    m.ioWrite(0xc004, 2, 0x1234);
    expect(m.ioRead(0xc004, 2)).toBe(0x1234);
    expect(m.findDevice("t")!.function.bars[0]!.address).toBe(0xc000n);
  });

  it("the ROM decodes only with its enable bit set", () => {
    const { m, cfg } = machine();
    const rom = m.findDevice("t")!.function.bars[6]!;
    cfg.write(0x04, 0x0002, 2);
    cfg.write(0x30, 0xfeb00000);
    expect(rom.mapped).toBe(false);
    cfg.write(0x30, 0xfeb00001);
    expect(rom.address).toBe(0xfeb00000n);
  });

  it("a 64-bit BAR maps above 4 GiB", () => {
    const { m, cfg } = machine();
    cfg.write(0x18, 0x0000000c);
    cfg.write(0x1c, 0x00000080);
    cfg.write(0x04, 0x0002, 2);
    expect(m.findDevice("t")!.function.bars[2]!.address).toBe(0x80_0000_0000n);
  });

  it("the all-ones sizing value never maps (QEMU treats it as unmapped)", () => {
    const { m, cfg } = machine();
    cfg.write(0x04, 0x0003, 2);
    cfg.write(0x14, 0xffffffff);
    cfg.write(0x10, 0xffffffff);
    const fn = m.findDevice("t")!.function;
    expect([fn.bars[0]!.mapped, fn.bars[1]!.mapped]).toEqual([false, false]);
  });

  it("two BARs on one address are reported as an overlap, not silently stacked", () => {
    const m = Machine.create({ devices: ["test-bars,addr=5,id=a", "test-bars,addr=6,id=b"], drivers: [BarTestDevice] });
    const overlaps: unknown[] = [];
    m.events.on("mapping-overlap", (r) => overlaps.push(r));
    for (const devfn of [5 << 3, 6 << 3]) {
      m.configWrite(0, devfn, 0x14, 4, 0xfebf0000);
      m.configWrite(0, devfn, 0x04, 2, 0x0002);
    }
    expect(overlaps).toEqual([
      expect.objectContaining({
        space: "memory",
        base: 0xfebf0000,
        region: "test-mmio",
        overlaps: [expect.objectContaining({ base: 0xfebf0000 })],
      }),
    ]);
  });

  it("NICs whose I/O BARs share one handler stay apart: moving one away leaves the other's mapping, under its own name", () => {
    const m = Machine.create({ devices: ["e1000,addr=5", "e1000,addr=6", "e1000,addr=7"] });
    const overlaps: { owner: string; overlaps: { owner: string }[] }[] = [];
    m.events.on("mapping-overlap", (r) => overlaps.push(r));
    const placeIoBar = (slot: number, base: number): void => {
      m.configWrite(0, slot << 3, 0x14, 4, base);
      m.configWrite(0, slot << 3, 0x04, 2, 0x0001);
    };
    placeIoBar(6, 0xc000);
    placeIoBar(5, 0xc000);
    placeIoBar(5, 0xd000);
    expect(m.io.resolve(0xc004)?.region.name).toBe("e1000-io");
    expect(m.io.resolve(0xd004)?.region.name).toBe("e1000-io");
    placeIoBar(7, 0xc000);
    expect(overlaps.map((o) => [o.owner, o.overlaps.map((x) => x.owner)])).toEqual([
      ["e1000 (00:05.0)", ["e1000 (00:06.0)"]],
      ["e1000 (00:07.0)", ["e1000 (00:06.0)"]],
    ]);
    placeIoBar(6, 0xe000);
    placeIoBar(7, 0xf000);
    expect(m.io.resolve(0xc004)).toBeNull();
  });
});
