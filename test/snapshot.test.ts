import { describe, expect, it } from "vitest";
import { Machine, type BarMappingEvent } from "../src/index.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { BarTestDevice } from "./support/test-devices.js";

const DEVICES = ["pci-bridge,id=br1,chassis_nr=1,addr=3", "test-bars,id=t,addr=5,msi=on", "test-bars,id=leaf,bus=br1,addr=2"];

function machine(devices = DEVICES, type = "pc"): Machine {
  return Machine.create({ machine: type, devices, drivers: [BarTestDevice] });
}

/** A guest's work: number the bridge, open its window, program BARs and command registers, route a PIRQ. */
function program(m: Machine): void {
  m.configWrite(0, 3 << 3, 0x18, 4, 0x00010100);
  m.configWrite(0, 3 << 3, 0x20, 4, 0xfe10fe00);
  m.configWrite(0, 3 << 3, 0x04, 2, 0x0007);
  m.configWrite(0, 5 << 3, 0x14, 4, 0xfeb00000);
  m.configWrite(0, 5 << 3, 0x10, 4, 0xc001);
  m.configWrite(0, 5 << 3, 0x04, 2, 0x0007);
  m.configWrite(1, 2 << 3, 0x14, 4, 0xfe000000);
  m.configWrite(1, 2 << 3, 0x04, 2, 0x0002);
  m.configWrite(0, 1 << 3, 0x60, 4, 0x8080800b); // PIRQA -> IRQ 11
  m.findDevice("t")!.setIrq(true);
}

/** Everything a guest could observe: all config bytes (lspci -xxxx), every mapping, the latch. */
function observe(m: Machine): string {
  const maps = m
    .buses()
    .flatMap((b) => [...b].flatMap((fn) => fn.bars.filter(Boolean).map((bar) => `${fn.bdf} bar${bar!.index}=${bar!.address}`)));
  return `${lspciDump(m, 4)}\n${maps.join("\n")}\nlatch=${m.host.latch}\nirq=${[...m.rootBus].map((f) => f.irqState).join(",")}`;
}

describe("snapshots", () => {
  it("save then load into a fresh machine of the same config brings back every byte and mapping", () => {
    const src = machine();
    program(src);
    const stream = src.save();
    const dst = machine();
    const mapped: BarMappingEvent[] = [];
    dst.events.on("bar-mapped", (e) => mapped.push(e));
    dst.load(stream);
    expect(observe(dst)).toBe(observe(src));
    expect(mapped.map((e) => `${e.bdf}:${e.bar}@${e.newAddress}`).sort()).toEqual(
      ["00:03.0:0@null", "00:05.0:0@49152", "00:05.0:1@4272947200", "01:02.0:1@4261412864"].filter((x) => !x.endsWith("null")).sort(),
    );
    // the device behind the bridge answers through the restored window and bus numbers
    dst.memWrite(0xfe000010, 4, 0x12345678);
    expect((dst.findDevice("leaf") as BarTestDevice).mmio.read(0x10, 4)).toBe(0x12345678);
  });

  it("a PIRQ routed and asserted before the save is asserted again after the load", () => {
    const src = machine();
    program(src);
    const dst = machine();
    const irqs: number[] = [];
    dst.events.on("irq", (e) => e.level && irqs.push(e.line));
    dst.load(src.save());
    expect(irqs).toEqual([11]); // slot 5 INTA is PIRQA, routed to IRQ 11
  });

  it("refuses a snapshot of another machine type", () => {
    const src = machine(DEVICES, "pc-qemu-2.0");
    expect(() => machine().load(src.save())).toThrow("snapshot: is a snapshot of machine type pc-qemu-2.0; this machine is pc-qemu-7.2");
  });

  it("refuses when the device sits at another address, naming both", () => {
    const src = machine();
    const dst = machine(["pci-bridge,id=br1,chassis_nr=1,addr=3", "test-bars,id=t,addr=6,msi=on", "test-bars,id=leaf,bus=br1,addr=2"]);
    expect(() => dst.load(src.save())).toThrow(
      /section \d+ \(test-bars,id=t at pci\.0:05\.0\): test-bars,id=t \(00:06\.0\) sits at pci\.0:06\.0 in this machine/,
    );
  });

  it("refuses capabilities the target device does not support (the seed's cap_present rule)", () => {
    const withMsi = machine(["test-bars,id=t,addr=5,msi=on"]);
    const without = machine(["test-bars,id=t,addr=5"]);
    expect(() => without.load(withMsi.save())).toThrow(
      /capabilities 0x05 are present in the stream but test-bars,id=t \(00:05\.0\) does not support them \(it has none\)/,
    );
    // the other way round the capability pointer differs: QEMU's cmask check refuses it
    expect(() => withMsi.load(without.save())).toThrow(/Bad config data: i=0x6 read: 0 device: 10 cmask: 10 wmask: 0 w1cmask:0/);
  });

  it("refuses another revision of the device, naming device, offset, expected and found", () => {
    const rev1 = machine(["test-bars,id=t,addr=5,revision=1"]);
    const rev2 = machine(["test-bars,id=t,addr=5,revision=2"]);
    expect(() => rev2.load(rev1.save())).toThrow(
      "test-bars,id=t (00:05.0) revision: Bad config data: i=0x8 read: 1 device: 2 cmask: ff wmask: 0 w1cmask:0",
    );
  });

  it("every truncation and every flipped bit is refused, and the machine is exactly as before", () => {
    const src = machine();
    program(src);
    const stream = src.save();
    const dst = machine();
    dst.configWrite(0, 5 << 3, 0x40, 4, 0xabcdef01);
    const before = observe(dst);
    const beforeStream = dst.save();
    const positions = Array.from({ length: 50 }, (_, i) => Math.floor(((i + 0.5) * stream.length) / 50));
    for (const cut of positions) {
      expect(() => dst.load(stream.subarray(0, cut))).toThrow(
        /^snapshot: (truncated at byte \d+ \(reading .+\)|.*claims \d+ bytes, more than the \d+ it can hold.*|not a machbus snapshot.*)$/,
      );
      expect(observe(dst)).toBe(before);
    }
    for (const at of positions) {
      const bad = stream.slice();
      bad[at] = bad[at]! ^ (1 << (at % 8));
      expect(() => dst.load(bad)).toThrow(/^snapshot: /);
      expect(observe(dst)).toBe(before);
    }
    expect(dst.save()).toEqual(beforeStream);
  });

  it("a name the corruption turned into control characters is shown escaped, not printed raw", () => {
    const src = machine();
    const stream = src.save();
    const name = new TextEncoder().encode("test-bars");
    const at = stream.findIndex((_, i) => name.every((b, k) => stream[i + k] === b));
    const bad = stream.slice();
    bad[at] = 0x14; // "t" -> DC4
    expect(() => machine().load(bad)).toThrow(/section \d+ \(\\x14est-bars,id=t at pci\.0:05\.0\): checksum mismatch/);
  });

  it("a device that fails while its state is applied leaves every device as it was", () => {
    const src = machine();
    program(src);
    const dst = machine();
    const before = observe(dst);
    const leaf = dst.findDevice("leaf")!;
    leaf.function.stateParts.push({
      name: "fragile",
      version: 1,
      save: () => new Uint8Array(0),
      check: () => null,
      load: () => {
        throw new Error("device refused its state");
      },
    });
    // the stream has no 'fragile' part: refused before anything is applied
    expect(() => dst.load(src.save())).toThrow("has no 'fragile' state, which this device needs");
    expect(observe(dst)).toBe(before);
  });
});
