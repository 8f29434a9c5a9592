import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError } from "../src/index.js";

/**
 * MachineOptions.portDispatch picks how the I/O space finds a port's handler: per-port tables
 * or a search of the flat view. The guest must not be able to tell them apart, so the same
 * guest port cycles (config cycles through 0xCF8/0xCFC moving I/O BARs and toggling decoding,
 * then reads and writes anywhere, unaligned and straddling regions) give the same results on both.
 */

const DEVICES = [
  "pci-bridge,id=b1,chassis_nr=1,addr=3",
  "virtio-net-pci,id=vn,addr=4",
  "e1000,id=nic,addr=6.0,multifunction=on",
  "rtl8139,id=rtl,addr=6.1",
  "ne2k_pci,id=ne,addr=7",
  "piix3-usb-uhci,id=usb,bus=b1,addr=2",
];

/** Bus 0 functions with an I/O BAR, as (devfn, BAR register). */
const IO_BARS: readonly (readonly [number, number])[] = [
  [4 << 3, 0x10], // virtio-net's legacy block
  [(6 << 3) | 0, 0x18], // e1000's I/O BAR 2
  [(6 << 3) | 1, 0x10], // rtl8139
  [7 << 3, 0x10], // ne2k
];

type Op =
  | { kind: "move"; bar: number; port: number }
  | { kind: "decode"; bar: number; on: boolean }
  | { kind: "config"; devfn: number; offset: number; size: 1 | 2 | 4; value: number }
  | { kind: "io"; port: number; size: 1 | 2 | 4; write: boolean; value: number };

const size = fc.constantFrom(1 as const, 2 as const, 4 as const);
// The BARs' ports land around a few bases so moves overlap, uncover and straddle each other.
const port = fc.oneof(fc.integer({ min: 0xbff0, max: 0xc1ff }), fc.integer({ min: 0xcf6, max: 0xd00 }), fc.nat({ max: 0xffff }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("move" as const),
    bar: fc.nat({ max: IO_BARS.length - 1 }),
    port: fc.integer({ min: 0xbf00, max: 0xc1ff }),
  }),
  fc.record({ kind: fc.constant("decode" as const), bar: fc.nat({ max: IO_BARS.length - 1 }), on: fc.boolean() }),
  fc.record({
    kind: fc.constant("config" as const),
    devfn: fc.constantFrom(0, 3 << 3, 4 << 3, 6 << 3, (6 << 3) | 1, 7 << 3),
    offset: fc.nat({ max: 0x3f }),
    size,
    value: fc.nat({ max: 0xffffffff }),
  }),
  fc.record({ kind: fc.constant("io" as const), port, size, write: fc.boolean(), value: fc.nat({ max: 0xffffffff }) }),
);

/** A config cycle the way the guest makes it: the address to 0xCF8, the data through 0xCFC-0xCFF. */
function config(m: Machine, devfn: number, offset: number, sz: 1 | 2 | 4, value: number | null): number | undefined {
  m.ioWrite(0xcf8, 4, (0x80000000 | (devfn << 8) | (offset & 0xfc)) >>> 0);
  const data = 0xcfc + (offset & (4 - sz));
  if (value === null) return m.ioRead(data, sz);
  m.ioWrite(data, sz, value);
  return undefined;
}

/** What the guest sees of `ops`: every value it reads. */
function transcript(m: Machine, ops: readonly Op[]): number[] {
  m.reset();
  const seen: number[] = [];
  for (const o of ops) {
    if (o.kind === "move") {
      const [devfn, reg] = IO_BARS[o.bar]!;
      config(m, devfn, reg, 4, o.port | 1);
    } else if (o.kind === "decode") {
      const [devfn] = IO_BARS[o.bar]!;
      const cmd = config(m, devfn, 0x04, 2, null)!;
      config(m, devfn, 0x04, 2, o.on ? cmd | 1 : cmd & ~1);
    } else if (o.kind === "config") {
      // Keep the cycle on the chosen function (a write to 0xCF8 through `io` still goes anywhere).
      const offset = o.offset & ~(o.size - 1);
      if (o.value & 1) config(m, o.devfn, offset, o.size, o.value & (o.size === 4 ? 0xffffffff : (1 << (8 * o.size)) - 1));
      else seen.push(config(m, o.devfn, offset, o.size, null)!);
    } else if (o.write) {
      m.ioWrite(o.port, o.size, o.value & (o.size === 4 ? 0xffffffff : (1 << (8 * o.size)) - 1));
    } else {
      seen.push(m.ioRead(o.port, o.size));
    }
  }
  for (const [devfn, reg] of IO_BARS) seen.push(config(m, devfn, reg, 4, null)!);
  return seen;
}

describe("port dispatch: tables and search are the same to the guest", () => {
  const tables = Machine.create({ devices: DEVICES });
  const search = Machine.create({ devices: DEVICES, portDispatch: "search" });

  it("random guest port cycles, BAR moves among them, read back the same on both", { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        expect(transcript(search, ops)).toEqual(transcript(tables, ops));
      }),
      { numRuns: 400, seed: 7 },
    );
  });

  it("a moved I/O BAR answers at its new ports and not at its old ones, on both", () => {
    for (const m of [tables, search]) {
      m.reset();
      const [devfn, reg] = IO_BARS[3]!; // ne2k: its reset register reads back through the BAR
      config(m, devfn, reg, 4, 0xc101);
      config(m, devfn, 0x04, 2, 1);
      const before = m.ioRead(0xc100, 1);
      config(m, devfn, reg, 4, 0xc201);
      expect(m.ioRead(0xc100, 1)).toBe(0xff);
      expect(m.ioRead(0xc200, 1)).toBe(before);
      expect(before).not.toBe(0xff);
    }
  });

  it("refuses a dispatch it does not know, naming it", () => {
    const bad = () => Machine.create({ portDispatch: "hash" as "tables" });
    expect(bad).toThrow(MachbusError);
    expect(bad).toThrow(`portDispatch "hash" is not "tables" or "search"`);
  });
});
