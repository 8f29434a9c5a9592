import { describe, expect, it } from "vitest";
import { BAR_UNMAPPED, Machine, type BarMappingEvent, type PciDevice } from "../src/index.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { describeState, u32 } from "../src/state/description.js";
import { BarTestDevice, REFUSED_AFTER_LOADING, REFUSED_WHILE_LOADING, StateTestDevice } from "./support/test-devices.js";

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
    leaf.function.keepState(describeState<{ level: number }>({ name: "fragile", version: 1, fields: [u32("level")] }), { level: 0 });
    // the stream has no 'fragile' part: refused before anything is applied
    expect(() => dst.load(src.save())).toThrow("has no 'fragile' state, which this device needs");
    expect(observe(dst)).toBe(before);
  });

  it("loading a virtio device's own snapshot leaves its capability masks as the device laid them out", () => {
    const m = machine(["virtio-net-pci,id=n,addr=4"]);
    const fn = m.findDevice("n")!.function;
    const masks = () => [fn.space.wmask, fn.space.w1cmask, fn.space.cmask, fn.space.used].map((a) => hex(a)).join("\n");
    const before = masks();
    m.load(m.save());
    expect(masks()).toBe(before);
    // the PCI cfg access capability (the last vendor capability, at 0x84) keeps its writable offset field
    m.configWrite(0, 4 << 3, 0x84 + 8, 4, 0x1234);
    expect(m.configRead(0, 4 << 3, 0x84 + 8)).toBe(0x1234);
    m.configWrite(0, 4 << 3, 0x40 + 8, 4, 0x1234);
    expect(m.configRead(0, 4 << 3, 0x40 + 8)).toBe(0);
  });
});

/** Every device kind whose state a load touches: bridge, MSI, MSI-X and vendor capabilities, e1000 registers, ISA fw_cfg, and last the test-state device. */
const ROLLBACK_DEVICES = [...DEVICES, "virtio-net-pci,id=n,addr=4", "e1000,id=e,addr=6", "test-state,id=s,addr=7"];

function rollbackMachine(): { m: Machine; pic: Map<number, boolean> } {
  const m = Machine.create({ devices: ROLLBACK_DEVICES, drivers: [BarTestDevice, StateTestDevice] });
  const pic = new Map<number, boolean>();
  m.events.on("irq", (e) => pic.set(e.line, e.level));
  return { m, pic };
}

/** Guest work that differs with `k`: BARs, windows and routes move, registers hold other values. */
function guestWork(m: Machine, k: number, mode: number): void {
  const mem = 0xfe000000 + k * 0x00400000;
  m.configWrite(0, 3 << 3, 0x18, 4, 0x00010100);
  m.configWrite(0, 3 << 3, 0x20, 4, ((((mem >>> 16) + 0x10) << 16) | (mem >>> 16)) >>> 0);
  m.configWrite(0, 3 << 3, 0x04, 2, 0x0007);
  m.configWrite(1, 2 << 3, 0x14, 4, mem);
  m.configWrite(1, 2 << 3, 0x04, 2, 0x0002);
  m.configWrite(0, 5 << 3, 0x10, 4, 0xc001 + k * 0x100);
  m.configWrite(0, 5 << 3, 0x14, 4, 0xfeb00000 + k * 0x10000);
  m.configWrite(0, 5 << 3, 0x04, 2, 0x0007);
  // virtio-net: legacy I/O, MSI-X table, modern BAR; features, a queue, DRIVER_OK, MSI-X enabled with a vector
  const io = 0xc040 + k * 0x100;
  m.configWrite(0, 4 << 3, 0x10, 4, io | 1);
  m.configWrite(0, 4 << 3, 0x14, 4, 0xfea00000 + k * 0x10000);
  m.configWrite(0, 4 << 3, 0x20, 4, (0xfd000000 + k * 0x100000) | 0xc);
  m.configWrite(0, 4 << 3, 0x04, 2, 0x0007);
  m.ioWrite(io + 4, 4, 0x20 + k);
  m.ioWrite(io + 14, 2, k);
  m.ioWrite(io + 8, 4, 0x1234 + k);
  m.ioWrite(io + 18, 1, 0x07);
  m.configWrite(0, 4 << 3, 0x98 + 2, 2, 0x8000);
  m.memWrite(0xfea00000 + k * 0x10000 + 8, 4, 0x4040 + k);
  m.ioWrite(io + 22, 2, k);
  // e1000: its registers and an interrupt cause it raises through INTx
  m.configWrite(0, 6 << 3, 0x10, 4, 0xfe800000 + k * 0x20000);
  m.configWrite(0, 6 << 3, 0x04, 2, 0x0006);
  m.memWrite(0xfe800000 + k * 0x20000 + 0x100, 4, 0x8002 + k); // RCTL
  if (k === 0) {
    m.memWrite(0xfe800000 + 0xd0, 4, 0x4); // IMS: link status change
    m.memWrite(0xfe800000 + 0xc8, 4, 0x4); // ICS: raise it
  }
  m.configWrite(0, 1 << 3, 0x60, 4, k ? 0x0a80800b : 0x8080800b);
  m.findDevice("t")!.setIrq(k === 0);
  // the test-state device's registers, word 0 its mode
  m.configWrite(0, 7 << 3, 0x10, 4, 0xfe900000 + k * 0x1000);
  m.configWrite(0, 7 << 3, 0x04, 2, 0x0002);
  m.memWrite(0xfe900000 + k * 0x1000 + 4, 4, 0x5150 + k);
  m.memWrite(0xfe900000 + k * 0x1000, 4, mode);
  // fw_cfg: a selected item, partly read
  m.ioWrite(0x510, 2, k ? 0x19 : 0x0);
  m.ioRead(0x511, 1);
  m.host.latch = 0x80000000 | (k << 11);
}

function hex(a: Uint8Array): string {
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a guest or the host can see: config bytes and masks, capability lists, BARs and what answers there, INTx, info pci. */
function everything(m: Machine, pic: Map<number, boolean>): string {
  const lines = [lspciDump(m, 4), formatInfoPci(m), `latch=${m.host.latch.toString(16)}`];
  for (const bus of m.buses()) {
    for (const fn of bus) {
      const s = fn.space;
      const device = m.placement(fn.owner as PciDevice)!;
      lines.push(
        `${bus.name} ${fn.devfn} ${device.info.name} irq=${fn.irqState}`,
        `  masks ${hex(s.wmask)} ${hex(s.w1cmask)} ${hex(s.cmask)} ${hex(s.used)}`,
        `  caps ${(fn.owner as PciDevice).capabilities
          .list()
          .map((c) => `${c.id}@${c.offset.toString(16)}`)
          .join(" ")}`,
      );
      for (const bar of fn.bars) {
        if (!bar) continue;
        const at = bar.address;
        const probe = at === BAR_UNMAPPED ? "-" : (bar.isIo ? m.ioRead(Number(at), 4) : m.memRead(Number(at), 4)).toString(16);
        lines.push(`  bar${bar.index} ${at} reads ${probe}`);
      }
    }
  }
  lines.push(
    `links ${[0, 1, 2, 3].map((l) => m.rootBus.irqLevel(l)).join(",")}`,
    `ISA IRQs asserted ${[...pic]
      .filter(([, level]) => level)
      .map(([line]) => line)
      .sort((a, b) => a - b)
      .join(" ")}`,
  );
  return lines.join("\n");
}

describe("a load that fails once state is being applied", () => {
  for (const [when, mode, message] of [
    ["while a later device's state is applied", REFUSED_WHILE_LOADING, "test-state: this host cannot resume mode 0xdead0001"],
    [
      "after every state is applied, while mappings and routes follow it",
      REFUSED_AFTER_LOADING,
      "test-state: this host cannot resume mode 0xdead0002",
    ],
  ] as const) {
    it(`fails ${when} and leaves the machine byte-identical: config, masks, capabilities, registers, BARs, INTx, info pci, a second save`, () => {
      const src = rollbackMachine().m;
      guestWork(src, 0, mode);
      const stream = src.save();
      const { m: dst, pic } = rollbackMachine();
      guestWork(dst, 1, 0);
      const before = everything(dst, pic);
      const saved = dst.save();
      // What the machine looked like when the load failed: other devices' state was in by then.
      let midway = "";
      (dst.findDevice("s") as StateTestDevice).registers.failing = () => (midway = lspciDump(dst, 4));
      expect(() => dst.load(stream)).toThrow(message);
      expect(midway).not.toBe("");
      expect(midway).not.toBe(lspciDump(dst, 4));
      expect(everything(dst, pic)).toBe(before);
      expect(dst.save()).toEqual(saved);
      // the machine still works: the guest's registers answer where they were, and a good stream loads
      expect(dst.memRead(0xfe900000 + 0x1000 + 4, 4)).toBe(0x5151);
      const good = rollbackMachine().m;
      guestWork(good, 0, 0);
      dst.load(good.save());
      expect(dst.save()).toEqual(good.save());
    });
  }
});

describe("every device model's registers are described state", () => {
  /** Per device: guest work through its BARs or ports, and a probe of what that work left behind. */
  const cases: { spec: string; program: (m: Machine) => void; probe: (m: Machine) => number[] }[] = [
    {
      spec: "VGA,addr=5",
      program: (m) => {
        m.configWrite(0, 5 << 3, 0x10, 4, 0xfd000000);
        m.configWrite(0, 5 << 3, 0x04, 2, 0x0002);
        m.ioWrite(0x3c4, 1, 0x02);
        m.ioWrite(0x3c5, 1, 0x0c);
        m.memWrite(0xfd000000 + 0x123456, 4, 0xcafef00d);
      },
      probe: (m) => [m.ioRead(0x3c5, 1), m.memRead(0xfd000000 + 0x123456, 4)],
    },
    {
      spec: "cirrus-vga,addr=5",
      program: (m) => {
        m.ioWrite(0x3c4, 1, 0x06);
        m.ioWrite(0x3c5, 1, 0x12); // unlock the extensions
        m.ioWrite(0x3c4, 1, 0x0e);
        m.ioWrite(0x3c5, 1, 0x5a);
      },
      probe: (m) => [m.ioRead(0x3c4, 1), m.ioRead(0x3c5, 1)],
    },
    {
      spec: "lsi53c895a,addr=5",
      program: (m) => {
        m.configWrite(0, 5 << 3, 0x10, 4, 0xc101);
        m.configWrite(0, 5 << 3, 0x18, 4, 0xfd000000);
        m.configWrite(0, 5 << 3, 0x04, 2, 0x0003);
        m.ioWrite(0xc100 + 0x5c, 1, 0xa5); // SCRATCHB
        m.memWrite(0xfd000000 + 0x100, 4, 0x12345678); // SCRIPTS RAM
      },
      probe: (m) => [m.ioRead(0xc100 + 0x5c, 1), m.memRead(0xfd000000 + 0x100, 4)],
    },
    {
      spec: "intel-hda,addr=5",
      program: (m) => {
        m.configWrite(0, 5 << 3, 0x10, 4, 0xfd000000);
        m.configWrite(0, 5 << 3, 0x04, 2, 0x0002);
        m.memWrite(0xfd000000 + 0x40, 4, 0x12345680); // CORBLBASE
      },
      probe: (m) => [m.memRead(0xfd000000 + 0x40, 4)],
    },
    {
      spec: "pci-bridge,chassis_nr=1,addr=5",
      program: (m) => {
        m.configWrite(0, 5 << 3, 0x10, 4, 0xfd000000);
        m.configWrite(0, 5 << 3, 0x04, 2, 0x0002);
        m.memWrite(0xfd000000 + 0x10, 4, 0x0badcafe); // an SHPC register
      },
      probe: (m) => [m.memRead(0xfd000000 + 0x10, 4)],
    },
    {
      spec: "", // the board's: PIIX3's reset control, PIIX3 IDE's bus-master registers
      program: (m) => {
        m.ioWrite(0xcf9, 1, 0x02);
        m.configWrite(0, (1 << 3) | 1, 0x20, 4, 0xc201);
        m.configWrite(0, (1 << 3) | 1, 0x04, 2, 0x0001);
        m.ioWrite(0xc204, 4, 0x00fe1230);
      },
      probe: (m) => [m.ioRead(0xcf9, 1), m.ioRead(0xc204, 4)],
    },
  ];
  for (const { spec, program, probe } of cases) {
    it(`${spec.split(",")[0] || "PIIX3 and PIIX3 IDE"}: what the guest wrote comes back in a fresh machine`, () => {
      const devices = spec ? [spec] : [];
      const src = Machine.create({ devices });
      program(src);
      const fresh = Machine.create({ devices });
      const copy = Machine.create({ devices });
      copy.load(src.save());
      // the BARs come back with the config bytes, so the copy answers where the source did
      expect(probe(copy)).toEqual(probe(src));
      copy.load(fresh.save());
      expect(probe(copy)).not.toEqual(probe(src));
    });
  }
});
