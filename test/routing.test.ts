import { describe, expect, it } from "vitest";
import { Machine, type IrqEvent } from "../src/index.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { bdfParts, hex32, loadConfigFixture, loadHotplugFixture, machineFor, runSetup } from "./support/qemu-fixtures.js";
import { BarTestDevice } from "./support/test-devices.js";

/** The devfns of bus 0 that answer a dword read of offset 0, as a guest's scan finds them ("00:02.1"). */
function scanBus0(m: Machine): string[] {
  const found: string[] = [];
  for (let devfn = 0; devfn < 256; devfn++) {
    if (m.configRead(0, devfn, 0) !== 0xffffffff) found.push(`00:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`);
  }
  return found;
}

const ECAM = 0xb0000000;

describe("ECAM gives the same bytes as mechanism #1", () => {
  const m = Machine.create({
    machine: `pc,ecam=${ECAM}`,
    devices: ["test-bars,addr=3", "pci-bridge,chassis_nr=1,addr=4"],
    drivers: [BarTestDevice],
  });

  it("every dword of every function, at every access size", () => {
    for (const devfn of [0x00, 0x08, 0x09, 0x0b, 0x18, 0x20]) {
      for (let off = 0; off < 256; off += 4) {
        const viaCf8 = m.configRead(0, devfn, off);
        expect(m.memRead(ECAM + (devfn << 12) + off, 4)).toBe(viaCf8);
        expect(m.memRead(ECAM + (devfn << 12) + off + 2, 2)).toBe(viaCf8 >>> 16);
        expect(m.memRead(ECAM + (devfn << 12) + off + 1, 1)).toBe((viaCf8 >>> 8) & 0xff);
      }
    }
  });

  it("writes through ECAM are seen by mechanism #1", () => {
    m.memWrite(ECAM + (0x18 << 12) + 0x14, 4, 0xfe000000);
    expect(m.configRead(0, 0x18, 0x14)).toBe(0xfe000000);
  });

  it("absent functions read all ones", () => {
    expect(m.memRead(ECAM + (0x50 << 12), 4)).toBe(0xffffffff);
  });

  it("reaches 4096-byte spaces of PCI Express functions; conventional ones end at 0xff", () => {
    const x = Machine.create({
      machine: `pc,ecam=${ECAM}`,
      devices: ["test-bars,addr=5,express=on", "test-bars,addr=6"],
      drivers: [BarTestDevice],
    });
    x.memWrite(ECAM + (5 << 15) + 0x400, 4, 0x11223344);
    expect(x.memRead(ECAM + (5 << 15) + 0x400, 4)).toBe(0x11223344);
    expect(x.memRead(ECAM + (6 << 15) + 0x400, 4)).toBe(0xffffffff);
    // mechanism #1 only ever reaches the first 256 bytes
    expect(x.configRead(0, 5 << 3, 0x00)).toBe(0x11ff1234);
  });

  it("is off on plain pc, as on the real i440FX", () => {
    const plain = Machine.create();
    expect(plain.memRead(ECAM, 4)).toBe(0xffffffff);
  });
});

describe("multifunction rules", () => {
  it("a function present at start-up answers config cycles whether or not its slot has a function 0, as on QEMU 7.2", () => {
    const fixture = loadConfigFixture("function-1-alone"); // -device e1000,addr=2.1, nothing at 2.0
    const m = machineFor(fixture);
    expect(scanBus0(m)).toEqual(fixture.present);
    expect(fixture.present).toContain("00:02.1");
    expect(hex32(m.configRead(0, (2 << 3) | 1, 0))).toBe(fixture.functions.find((f) => f.bdf === "00:02.1")!.reset[0]);
    const m2 = Machine.create({ devices: ["test-bars,addr=6.0,multifunction=on", "test-bars,addr=6.1"], drivers: [BarTestDevice] });
    expect(m2.configRead(0, (6 << 3) | 1, 0)).toBe(0x11ff1234);
  });

  it("a function hot-plugged without function 0 reads all ones and drops writes until function 0 arrives, as QEMU 7.2 showed", () => {
    const fixture = loadHotplugFixture("hotplug-function-1-alone");
    const m = machineFor(fixture);
    for (const step of fixture.steps) {
      if (step.deviceAdd) {
        const { driver, ...props } = step.deviceAdd;
        const spec = [driver, ...Object.entries(props).map(([k, v]) => `${k}=${v === true ? "on" : String(v)}`)].join(",");
        let error: string | null = null;
        try {
          m.addDevice(spec);
        } catch (e) {
          error = (e as Error).message;
        }
        expect({ step: step.note, error }).toEqual({ step: step.note, error: step.result.ok ? null : step.result.error!.desc });
      } else runSetup(m, step.hmp);
      if (!step.present) continue;
      expect({ step: step.note, present: scanBus0(m) }).toEqual({ step: step.note, present: step.present });
      const dwords: Record<string, Record<string, string>> = {};
      for (const [bdf, values] of Object.entries(step.dwords!)) {
        const { bus, devfn } = bdfParts(bdf);
        dwords[bdf] = Object.fromEntries(Object.keys(values).map((off) => [off, hex32(m.configRead(bus, devfn, parseInt(off, 16)))]));
      }
      expect({ step: step.note, dwords }).toEqual({ step: step.note, dwords: step.dwords });
      expect({ step: step.note, infoPci: formatInfoPci(m) }).toEqual({ step: step.note, infoPci: step.infoPci });
    }
  });

  it("header-type bit 7 marks the multifunction device", () => {
    const m = Machine.create({ devices: ["test-bars,addr=6.0,multifunction=on", "test-bars,addr=7"], drivers: [BarTestDevice] });
    expect((m.configRead(0, 6 << 3, 0x0c) >>> 16) & 0xff).toBe(0x80);
    expect((m.configRead(0, 7 << 3, 0x0c) >>> 16) & 0xff).toBe(0x00);
    expect((m.configRead(0, 1 << 3, 0x0c) >>> 16) & 0xff).toBe(0x80); // PIIX3
  });

  it("a single-function device refuses company, in QEMU's words", () => {
    expect(() => Machine.create({ devices: ["test-bars,addr=6.0", "test-bars,addr=6.1"], drivers: [BarTestDevice] })).toThrow(
      "PCI: single function device can't be populated in function 6.1",
    );
    expect(() =>
      Machine.create({ devices: ["test-bars,addr=6.1,multifunction=on", "test-bars,addr=6.0"], drivers: [BarTestDevice] }),
    ).toThrow("PCI: 6.0 indicates single function, but 6.1 is already populated.");
  });
});

/** Programs bridge (bus, devfn) to forward bus numbers [secondary, subordinate]. */
function numberBridge(m: Machine, bus: number, devfn: number, primary: number, secondary: number, subordinate: number) {
  m.configWrite(bus, devfn, 0x18, 4, primary | (secondary << 8) | (subordinate << 16));
}

describe("PCI-to-PCI bridges", () => {
  function twoLevels() {
    const m = Machine.create({
      devices: [
        "pci-bridge,id=br1,chassis_nr=1,addr=3",
        "pci-bridge,id=br2,chassis_nr=2,bus=br1,addr=2",
        "test-bars,id=leaf,bus=br2,addr=5",
      ],
      drivers: [BarTestDevice],
    });
    numberBridge(m, 0, 3 << 3, 0, 1, 2);
    numberBridge(m, 1, 2 << 3, 1, 2, 2);
    return m;
  }

  it("a device behind two bridges answers config cycles once the bus numbers route to it", () => {
    const m = Machine.create({
      devices: [
        "pci-bridge,id=br1,chassis_nr=1,addr=3",
        "pci-bridge,id=br2,chassis_nr=2,bus=br1,addr=2",
        "test-bars,id=leaf,bus=br2,addr=5",
      ],
      drivers: [BarTestDevice],
    });
    expect(m.configRead(2, 5 << 3, 0)).toBe(0xffffffff); // no bridge claims bus 2 yet
    numberBridge(m, 0, 3 << 3, 0, 1, 2);
    expect(m.configRead(2, 5 << 3, 0)).toBe(0xffffffff); // br2 not numbered yet
    numberBridge(m, 1, 2 << 3, 1, 2, 2);
    expect(m.configRead(2, 5 << 3, 0)).toBe(0x11ff1234);
    m.configWrite(2, 5 << 3, 0x40, 4, 0xcafef00d);
    expect(m.findDevice("leaf")!.config.get32(0x40)).toBe(0xcafef00d);
    expect(m.configRead(3, 5 << 3, 0)).toBe(0xffffffff); // bus 3 is outside both ranges
  });

  it("the bus-reset bit hides the secondary bus", () => {
    const m = twoLevels();
    m.configWrite(0, 3 << 3, 0x3e, 2, 0x40);
    expect(m.configRead(2, 5 << 3, 0)).toBe(0xffffffff);
    m.configWrite(0, 3 << 3, 0x3e, 2, 0x00);
    expect(m.configRead(2, 5 << 3, 0)).toBe(0x11ff1234);
  });

  it("memory windows forward accesses to the device behind both bridges", () => {
    const m = twoLevels();
    for (const [bus, devfn] of [
      [0, 3 << 3],
      [1, 2 << 3],
    ] as const) {
      m.configWrite(bus, devfn, 0x20, 4, 0xfe00fe00); // memory base = limit = 0xfe000000 (1 MiB)
      m.configWrite(bus, devfn, 0x04, 2, 0x0002);
    }
    m.configWrite(2, 5 << 3, 0x14, 4, 0xfe000000);
    m.configWrite(2, 5 << 3, 0x04, 2, 0x0002);
    m.memWrite(0xfe000020, 4, 0x55aa55aa);
    expect((m.findDevice("leaf") as BarTestDevice).mmio.read(0x20, 4)).toBe(0x55aa55aa);
    // Outside the window the device is unreachable even though its BAR decodes there.
    m.configWrite(2, 5 << 3, 0x14, 4, 0xfd000000);
    expect(m.memRead(0xfd000020, 4)).toBe(0xffffffff);
  });

  it("I/O windows forward port accesses", () => {
    const m = twoLevels();
    for (const [bus, devfn] of [
      [0, 3 << 3],
      [1, 2 << 3],
    ] as const) {
      m.configWrite(bus, devfn, 0x1c, 2, 0xd0d0); // I/O base = limit = 0xd000 (4 KiB)
      m.configWrite(bus, devfn, 0x04, 2, 0x0001);
    }
    m.configWrite(2, 5 << 3, 0x10, 4, 0xd041);
    m.configWrite(2, 5 << 3, 0x04, 2, 0x0001);
    m.ioWrite(0xd042, 2, 0xbeef);
    expect(m.ioRead(0xd042, 2)).toBe(0xbeef);
  });

  it("INTx swizzles at each bridge: pin' = (pin + slot) mod 4, then PIIX3 maps slot and pin to a PIRQ", () => {
    const m = twoLevels();
    const links: number[] = [];
    m.events.on("intx", (e) => e.level && links.push(e.link));
    const leaf = m.findDevice("leaf")!;
    leaf.setIrq(true);
    // INTA (0) at slot 5 behind br2 -> (0+5)%4 = 1 (INTB) at br2's slot 2 behind br1
    // -> (1+2)%4 = 3 (INTD) at br1's slot 3 on the root -> PIRQ (3 + 3 - 1)%4 = 1 (PIRQB)
    expect(links).toEqual([1]);
  });
});

describe("INTx on the pc board", () => {
  it("slot 1 INTA is PIRQA; PIRQ routing registers reset to 0x80 (disabled)", () => {
    const m = Machine.create({ devices: ["test-bars,addr=2,id=a"], drivers: [BarTestDevice] });
    expect(m.configRead(0, 1 << 3, 0x60)).toBe(0x80808080);
    const links: number[] = [];
    const irqs: IrqEvent[] = [];
    m.events.on("intx", (e) => links.push(e.link));
    m.events.on("irq", (e) => irqs.push(e));
    m.findDevice("a")!.setIrq(true);
    expect(links).toEqual([1]); // slot 2 INTA -> PIRQB
    expect(irqs).toEqual([]); // PIRQB routing disabled
    m.configWrite(0, 1 << 3, 0x61, 1, 0x0b); // PIRQB -> IRQ 11
    expect(irqs).toEqual([{ line: 11, level: true }]);
  });

  it("a shared line stays high until the last device drops it", () => {
    const m = Machine.create({ devices: ["test-bars,addr=2,id=a", "test-bars,addr=6,id=b"], drivers: [BarTestDevice] });
    m.configWrite(0, 1 << 3, 0x61, 1, 0x0a); // slots 2 and 6 INTA both reach PIRQB
    const irqs: IrqEvent[] = [];
    m.events.on("irq", (e) => irqs.push(e));
    m.findDevice("a")!.setIrq(true);
    m.findDevice("b")!.setIrq(true);
    m.findDevice("a")!.setIrq(false);
    expect(irqs).toEqual([{ line: 10, level: true }]);
    m.findDevice("b")!.setIrq(false);
    expect(irqs).toEqual([
      { line: 10, level: true },
      { line: 10, level: false },
    ]);
  });

  it("the command register's INTx disable bit masks the pin and status bit 3 shows it", () => {
    const m = Machine.create({ devices: ["test-bars,addr=2,id=a"], drivers: [BarTestDevice] });
    m.configWrite(0, 1 << 3, 0x61, 1, 0x0b);
    const irqs: IrqEvent[] = [];
    m.events.on("irq", (e) => irqs.push(e));
    m.findDevice("a")!.setIrq(true);
    expect((m.configRead(0, 2 << 3, 0x04) >>> 16) & 0x08).toBe(0x08);
    m.configWrite(0, 2 << 3, 0x04, 2, 0x0400);
    expect(irqs).toEqual([
      { line: 11, level: true },
      { line: 11, level: false },
    ]);
    m.configWrite(0, 2 << 3, 0x04, 2, 0x0000);
    expect(irqs.at(-1)).toEqual({ line: 11, level: true });
  });
});

describe("machines are independent", () => {
  it("two machines in one process share no state", () => {
    const a = Machine.create({ devices: ["test-bars,addr=4,id=x"], drivers: [BarTestDevice] });
    const b = Machine.create({ devices: ["test-bars,addr=4,id=x"], drivers: [BarTestDevice] });
    a.configWrite(0, 4 << 3, 0x40, 4, 0x12345678);
    a.ioWrite(0xcf8, 4, 0x80000800);
    expect(b.configRead(0, 4 << 3, 0x40)).toBe(0);
    expect(b.ioRead(0xcf8, 4)).toBe(0x80002040); // b's own latch, from its own configRead
    expect(a.container).not.toBe(b.container);
    expect(a.findDevice("x")).not.toBe(b.findDevice("x"));
    let seen = 0;
    b.events.on("bar-mapped", () => seen++);
    a.configWrite(0, 4 << 3, 0x14, 4, 0xfe000000);
    a.configWrite(0, 4 << 3, 0x04, 2, 0x0002);
    expect(seen).toBe(0);
  });
});

describe("config read hooks", () => {
  it("an armed hook refreshes its own dword before each read of it; the other dwords read the bytes; a disarmed hook never runs", () => {
    const m = Machine.create({ devices: ["test-bars,id=t,addr=5"], drivers: [BarTestDevice] });
    const dev = m.findDevice("t") as BarTestDevice;
    const devfn = 5 << 3;
    let calls = 0;
    const hook = dev.function.onConfigRead(0x40, 4, () => dev.config.set32(0x40, 0x1000 + ++calls));
    for (let off = 0; off < 256; off += 4) {
      if (off !== 0x40) expect(m.configRead(0, devfn, off)).toBe(dev.config.get32(off));
    }
    expect(calls).toBe(0);
    expect(m.configRead(0, devfn, 0x40)).toBe(0x1001);
    expect(m.configRead(0, devfn, 0x41, 1)).toBe(0x10); // 0x1002: a byte read runs it too
    expect(calls).toBe(2);
    hook.arm(false);
    expect(m.configRead(0, devfn, 0x40)).toBe(0x1002);
    expect(calls).toBe(2);
    hook.arm(true);
    expect(m.configRead(0, devfn, 0x40)).toBe(0x1003);
  });
});
