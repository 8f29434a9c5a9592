import "reflect-metadata";
import { inject } from "tsyringe";
import { describe, expect, it } from "vitest";
import { Machine, pciDriver, PciDevice, prop, registerFile, types, type DeviceProps, type MsiEvent } from "../src/index.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { MSIX_CAP_LENGTH, Msix, msixExclusiveBarLayout } from "../src/pci/msix.js";

const props = { vectors: prop(types.uint32, 4, "MSI-X vectors; 0 for none") };

/** A function with registers in BAR 0 and MSI-X in an exclusive BAR 1, every vector in use. */
@pciDriver({ name: "test-msix", description: "MSI-X test device", category: "misc", properties: props })
class MsixTestDevice extends PciDevice {
  readonly msix: Msix | null;
  constructor(@inject(DEVICE_PROPS) p: DeviceProps<typeof props>) {
    super({ vendorId: 0x1234, deviceId: 0x11fe, classCode: 0x00ff, interruptPin: 1 }, p);
    this.defineBar(0, { kind: "mem32", size: 4096, name: "test-regs", ops: registerFile(4096) });
    this.msix = p.vectors ? Msix.exclusiveBar(this, p.vectors, 1) : null;
    for (let v = 0; v < p.vectors; v++) this.msix!.use(v);
  }
}

const DEVFN = 5 << 3;
const REGS = 0xfe000000;
const MSIX = 0xfebf0000;
const CAP = 0x40;
const entry = (v: number, field: number) => MSIX + 16 * v + field;

function machine(spec = "test-msix,id=t,addr=5") {
  const m = Machine.create({ devices: [spec], drivers: [MsixTestDevice] });
  const dev = m.findDevice("t") as MsixTestDevice;
  const msis: MsiEvent[] = [];
  m.events.on("msi", (e) => msis.push(e));
  const cfg = {
    read: (off: number, size: 1 | 2 | 4 = 4) => m.configRead(0, DEVFN, off, size),
    write: (off: number, value: number, size: 1 | 2 | 4 = 4) => m.configWrite(0, DEVFN, off, size, value),
  };
  return { m, dev, msis, cfg };
}

/** BARs programmed, memory decoding and bus mastering on, vector 0 aimed at the local APIC. */
function programmed(spec?: string) {
  const t = machine(spec);
  t.cfg.write(0x10, REGS);
  t.cfg.write(0x14, MSIX);
  t.cfg.write(0x04, 0x0006, 2);
  t.m.memWrite(entry(0, 0), 4, 0xfee00000);
  t.m.memWrite(entry(0, 4), 4, 0);
  t.m.memWrite(entry(0, 8), 4, 0x4041);
  return t;
}

const enable = (t: ReturnType<typeof machine>, maskAll = false) => t.cfg.write(CAP + 3, 0x80 | (maskAll ? 0x40 : 0), 1);

describe("MSI-X", () => {
  it("the capability is 12 bytes: Message Control holds N-1, the table sits at 0 and the PBA at 2 KiB of BAR 1", () => {
    const { cfg } = machine();
    expect(MSIX_CAP_LENGTH).toBe(12);
    expect(cfg.read(0x34) & 0xff).toBe(CAP);
    expect(cfg.read(CAP)).toBe(0x00030011);
    expect(cfg.read(CAP + 4)).toBe(0x00000001);
    expect(cfg.read(CAP + 8)).toBe(0x00000801);
    cfg.write(0x14, 0xffffffff);
    expect(cfg.read(0x14)).toBe(0xfffff000);
  });

  it("only the enable and function-mask bits of Message Control are guest-writable", () => {
    const { cfg } = machine();
    for (const off of [CAP, CAP + 4, CAP + 8]) {
      const before = cfg.read(off);
      cfg.write(off, 0xffffffff);
      expect(cfg.read(off)).toBe(off === CAP ? (before | 0xc0000000) >>> 0 : before);
      cfg.write(off, before);
    }
  });

  it("every vector starts masked: vector control reads 1 through the BAR", () => {
    const { m } = programmed();
    for (let v = 0; v < 4; v++) expect(m.memRead(entry(v, 12), 4)).toBe(1);
    expect(m.memRead(MSIX + 0x800, 4)).toBe(0);
  });

  it("the table takes dword accesses only: narrower reads return 0 and narrower writes are dropped", () => {
    const { m } = programmed();
    expect(m.memRead(entry(0, 8), 4)).toBe(0x4041);
    expect(m.memRead(entry(0, 8), 2)).toBe(0);
    expect(m.memRead(entry(0, 12), 1)).toBe(0);
    m.memWrite(entry(0, 8), 1, 0x55);
    expect(m.memRead(entry(0, 8), 4)).toBe(0x4041);
  });

  it("a masked vector's notify sets its pending bit and sends nothing; unmasking it delivers the message and clears the bit", () => {
    const t = programmed();
    enable(t);
    t.dev.msix!.notify(0);
    expect(t.msis).toEqual([]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(1);
    t.m.memWrite(entry(0, 12), 4, 0);
    expect(t.msis).toEqual([{ device: "t", bdf: "00:05.0", address: 0xfee00000n, data: 0x4041 }]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(0);
    t.dev.msix!.notify(0);
    expect(t.msis).toHaveLength(2);
  });

  it("the function mask holds every vector; clearing it delivers what became pending", () => {
    const t = programmed();
    t.m.memWrite(entry(0, 12), 4, 0);
    enable(t, true);
    t.dev.msix!.notify(0);
    expect(t.msis).toEqual([]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(1);
    enable(t, false);
    expect(t.msis.map((e) => e.data)).toEqual([0x4041]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(0);
  });

  it("a notify while MSI-X is disabled is held pending and sent when the guest enables MSI-X", () => {
    const t = programmed();
    t.m.memWrite(entry(0, 12), 4, 0);
    t.dev.msix!.notify(0);
    expect(t.msis).toEqual([]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(1);
    enable(t);
    expect(t.msis).toHaveLength(1);
  });

  it("messages need bus mastering, and a vector the device does not use sends nothing", () => {
    const t = programmed();
    t.m.memWrite(entry(0, 12), 4, 0);
    enable(t);
    t.cfg.write(0x04, 0x0002, 2);
    t.dev.msix!.notify(0);
    expect(t.msis).toEqual([]);
    t.cfg.write(0x04, 0x0006, 2);
    t.dev.msix!.unuse(0);
    t.dev.msix!.notify(0);
    expect(t.msis).toEqual([]);
    t.dev.msix!.use(0);
    t.dev.msix!.notify(0);
    expect(t.msis).toHaveLength(1);
  });

  it("enabling MSI-X drops the function's INTx", () => {
    const t = programmed();
    t.dev.setIrq(true);
    expect(t.cfg.read(0x04) >>> 16).toBe(0x0018);
    enable(t);
    expect(t.cfg.read(0x04) >>> 16).toBe(0x0010);
  });

  it("a system reset clears enable and function mask, zeroes the table and PBA, and masks every vector", () => {
    const t = programmed();
    enable(t, true);
    t.dev.msix!.notify(1);
    t.m.reset();
    t.cfg.write(0x14, MSIX);
    t.cfg.write(0x04, 0x0006, 2);
    expect(t.cfg.read(CAP)).toBe(0x00030011);
    expect([0, 4, 8, 12].map((f) => t.m.memRead(entry(0, f), 4))).toEqual([0, 0, 0, 1]);
    expect(t.m.memRead(MSIX + 0x800, 4)).toBe(0);
  });

  it("the table and the pending bits survive a snapshot", () => {
    const t = programmed();
    enable(t);
    t.dev.msix!.notify(0);
    const saved = t.m.save();
    const u = machine();
    u.m.load(saved);
    expect(u.m.memRead(entry(0, 8), 4)).toBe(0x4041);
    expect(u.m.memRead(MSIX + 0x800, 4)).toBe(1);
    u.m.memWrite(entry(0, 12), 4, 0);
    expect(u.msis.map((e) => e.address)).toEqual([0xfee00000n]);
  });

  it("vectors=0 means no MSI-X capability and no BAR 1", () => {
    const { cfg } = machine("test-msix,id=t,addr=5,vectors=0");
    expect(cfg.read(0x04) >>> 16).toBe(0x0000);
    cfg.write(0x14, 0xffffffff);
    expect(cfg.read(0x14)).toBe(0);
  });

  it("the exclusive BAR is 4 KiB up to 128 vectors, then grows to hold the table and the PBA after it", () => {
    expect(msixExclusiveBarLayout(1)).toEqual({ size: 4096, pbaOffset: 2048 });
    expect(msixExclusiveBarLayout(128)).toEqual({ size: 4096, pbaOffset: 2048 });
    expect(msixExclusiveBarLayout(255)).toEqual({ size: 8192, pbaOffset: 4080 });
    expect(msixExclusiveBarLayout(2032)).toEqual({ size: 32768, pbaOffset: 32512 });
    expect(msixExclusiveBarLayout(2048)).toEqual({ size: 65536, pbaOffset: 32768 });
    const { cfg } = machine("test-msix,id=t,addr=5,vectors=2048");
    expect(cfg.read(CAP)).toBe(0x07ff0011);
    expect(cfg.read(CAP + 8)).toBe(0x00008001);
  });

  it("more than 2048 vectors is refused, naming the device and the count", () => {
    expect(() => machine("test-msix,id=t,addr=5,vectors=2049")).toThrow(/test-msix,id=t: The number of MSI-X vectors is invalid \(2049/);
  });
});
