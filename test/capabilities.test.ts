import { describe, expect, it } from "vitest";
import { Capabilities, ConfigSpace, ExtendedCapabilities, Machine, MachbusError, pci } from "../src/index.js";
import { initHeaderMasks } from "../src/pci/config-space.js";
import { BarTestDevice } from "./support/test-devices.js";

function space(size = 256): { s: ConfigSpace; caps: Capabilities } {
  const s = new ConfigSpace(size);
  initHeaderMasks(s);
  return { s, caps: new Capabilities(s, () => "test-dev") };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof MachbusError ? e.code : `not a MachbusError: ${String(e)}`;
  }
  return undefined;
}

describe("capability list", () => {
  it("the first capability goes at 0x40 and sets the status capability bit", () => {
    const { s, caps } = space();
    expect(s.get16(pci.PCI_STATUS) & pci.PCI_STATUS_CAP_LIST).toBe(0);
    expect(caps.add(pci.PCI_CAP_ID_MSI, 0x0a)).toBe(0x40);
    expect(s.get8(pci.PCI_CAPABILITY_LIST)).toBe(0x40);
    expect(s.get16(pci.PCI_STATUS) & pci.PCI_STATUS_CAP_LIST).toBe(pci.PCI_STATUS_CAP_LIST);
  });

  it("a new capability becomes the head of the list (prepended, as pci_add_capability does)", () => {
    const { s, caps } = space();
    const pm = caps.add(pci.PCI_CAP_ID_PM, 8);
    const msix = caps.add(pci.PCI_CAP_ID_MSIX, 12);
    expect(msix).toBe(0x48);
    expect(s.get8(pci.PCI_CAPABILITY_LIST)).toBe(msix);
    expect(s.get8(msix + 1)).toBe(pm);
    expect(caps.list()).toEqual([
      { id: pci.PCI_CAP_ID_MSIX, offset: 0x48 },
      { id: pci.PCI_CAP_ID_PM, offset: 0x40 },
    ]);
  });

  it("capability bytes are read-only to the guest and checked on load", () => {
    const { s, caps } = space();
    const at = caps.add(pci.PCI_CAP_ID_PM, 8);
    s.guestWrite(at, 0xffffffff, 4);
    expect(s.get32(at)).toBe(pci.PCI_CAP_ID_PM);
    expect([...s.cmask.subarray(at, at + 8)]).toEqual(new Array(8).fill(0xff));
  });

  it("sizes round up to dwords: the next capability starts aligned", () => {
    const { caps } = space();
    caps.add(pci.PCI_CAP_ID_MSI, 0x0a); // 0x40-0x49, used to 0x4b
    expect(caps.add(pci.PCI_CAP_ID_PM, 8)).toBe(0x4c);
  });

  it("find returns the offset and the link that points at it", () => {
    const { caps } = space();
    const a = caps.add(pci.PCI_CAP_ID_PM, 8);
    const b = caps.add(pci.PCI_CAP_ID_MSI, 0x0e);
    expect(caps.find(pci.PCI_CAP_ID_PM)).toBe(a);
    expect(caps.findWithPrevious(pci.PCI_CAP_ID_PM)).toEqual({ offset: a, previous: b + 1 });
    expect(caps.findWithPrevious(pci.PCI_CAP_ID_MSI)).toEqual({ offset: b, previous: pci.PCI_CAPABILITY_LIST });
    expect(caps.find(pci.PCI_CAP_ID_MSIX)).toBe(0);
  });

  it("delete unlinks, makes the bytes writable and free again, and clears the status bit with the last one", () => {
    const { s, caps } = space();
    const a = caps.add(pci.PCI_CAP_ID_PM, 8);
    const b = caps.add(pci.PCI_CAP_ID_MSI, 0x0e);
    expect(caps.remove(pci.PCI_CAP_ID_MSI, 0x0e)).toBe(b);
    expect(s.get8(pci.PCI_CAPABILITY_LIST)).toBe(a);
    s.guestWrite(b, 0x12345678, 4);
    expect(s.get32(b)).toBe(0x12345678);
    expect(caps.add(pci.PCI_CAP_ID_MSIX, 12)).toBe(b); // the freed gap is reused
    caps.remove(pci.PCI_CAP_ID_MSIX, 12);
    caps.remove(pci.PCI_CAP_ID_PM, 8);
    expect(s.get8(pci.PCI_CAPABILITY_LIST)).toBe(0);
    expect(s.get16(pci.PCI_STATUS) & pci.PCI_STATUS_CAP_LIST).toBe(0);
    expect(caps.remove(pci.PCI_CAP_ID_PM, 8)).toBe(0);
  });

  it("a fixed offset that overlaps another capability is refused, naming both", () => {
    const { s, caps } = space();
    caps.add(pci.PCI_CAP_ID_PM, 8, 0x50);
    const before = s.snapshot();
    expect(() => caps.add(pci.PCI_CAP_ID_MSI, 0x0e, 0x54)).toThrow(
      /capability 0x05 at offset 0x54 \(14 bytes\) overlaps capability 0x01 at offset 0x50/,
    );
    expect(s.snapshot()).toEqual(before); // config, masks and used bytes alike
  });

  it("offsets in the header, unaligned or past the end are refused", () => {
    const { caps } = space();
    expect(codeOf(() => caps.add(pci.PCI_CAP_ID_PM, 8, 0x3c))).toBe("capability-bad-offset");
    expect(codeOf(() => caps.add(pci.PCI_CAP_ID_PM, 8, 0x41))).toBe("capability-bad-offset");
    expect(codeOf(() => caps.add(pci.PCI_CAP_ID_PM, 8, 0xfc))).toBe("capability-bad-offset");
    expect(codeOf(() => caps.add(pci.PCI_CAP_ID_PM, 0))).toBe("capability-bad-size");
  });

  it("a full config space is a clear error, not a corrupt list", () => {
    const { s, caps } = space();
    for (let i = 0; i < 12; i++) caps.add(pci.PCI_CAP_ID_VNDR, 16);
    const before = s.snapshot();
    expect(() => caps.add(pci.PCI_CAP_ID_MSIX, 12)).toThrow(/test-dev: no room for capability 0x11 of 12 bytes/);
    expect(s.snapshot()).toEqual(before);
    expect(caps.list()).toHaveLength(12);
  });

  it("reserve claims bytes without linking them, so add skips them", () => {
    const { s, caps } = space();
    caps.reserve(0x40, 16);
    expect(caps.list()).toEqual([]);
    expect(caps.add(pci.PCI_CAP_ID_PM, 8)).toBe(0x50);
    expect(() => caps.add(pci.PCI_CAP_ID_MSI, 0x0a, 0x48)).toThrow(/overlaps/);
    expect(s.used[0x4f]).toBe(0xff);
  });

  it("iteration stops at a loop the guest or a bad load could create", () => {
    const { s, caps } = space();
    const a = caps.add(pci.PCI_CAP_ID_PM, 8);
    s.config[a + 1] = a; // points at itself
    expect(caps.list().length).toBeLessThanOrEqual(48);
  });
});

describe("PCI Express extended capabilities", () => {
  it("start at 0x100, append, and link with 12-bit next pointers", () => {
    const s = new ConfigSpace(4096);
    const ext = new ExtendedCapabilities(s, () => "test-dev");
    expect(ext.add(0x0001, 2, 0x48)).toBe(0x100);
    expect(ext.add(0x000b, 1, 0x18)).toBe(0x148);
    expect(s.get32(0x100) >>> 20).toBe(0x148);
    expect(ext.list()).toEqual([
      { id: 1, version: 2, offset: 0x100 },
      { id: 0x0b, version: 1, offset: 0x148 },
    ]);
    expect(ext.find(0x0b)).toBe(0x148);
    expect(ext.remove(0x0001, 0x48)).toBe(0x100);
    expect(ext.list()).toEqual([{ id: 0x0b, version: 1, offset: 0x148 }]);
  });

  it("need a 4096-byte space", () => {
    const ext = new ExtendedCapabilities(new ConfigSpace(256), () => "test-dev");
    expect(() => ext.add(1, 1, 8)).toThrow(/needs a PCI Express/);
  });
});

describe("masks of plugged functions", () => {
  const configOf = (m: Machine, id: string) => m.findDevice(id)!.config;

  it("functions of one model share one copy of their masks, and a capability added to one changes only its own", () => {
    const m = Machine.create({
      devices: ["test-bars,id=a,addr=5", "test-bars,id=b,addr=6", "test-bars,id=c,addr=7,msi=on"],
      drivers: [BarTestDevice],
    });
    const [a, b, c] = [configOf(m, "a"), configOf(m, "b"), configOf(m, "c")];
    expect(a.masks).toBe(b.masks);
    expect(c.masks).not.toBe(a.masks); // MSI makes other masks
    const before = Uint8Array.from(b.masks.bytes);
    m.findDevice("a")!.capabilities.add(pci.PCI_CAP_ID_VNDR, 8, 0x80);
    expect(a.masks).not.toBe(b.masks);
    expect(a.cmask[0x80]).toBe(0xff);
    expect(b.masks.bytes).toEqual(before);
    // The guest still sees each function's own masks: 0x80 is read-only on a now, writable on b.
    m.configWrite(0, 5 << 3, 0x80, 4, 0xffffffff);
    m.configWrite(0, 6 << 3, 0x80, 4, 0xffffffff);
    expect(m.configRead(0, 5 << 3, 0x80)).toBe(0x00000009);
    expect(m.configRead(0, 6 << 3, 0x80)).toBe(0xffffffff);
  });

  it("save and load leave each of virtio's five vendor capabilities with its own masks", () => {
    const m = Machine.create({ devices: ["virtio-net-pci,id=n"] });
    const s = configOf(m, "n");
    const before = Uint8Array.from(s.masks.bytes);
    m.load(m.save());
    expect(Uint8Array.from(configOf(m, "n").masks.bytes)).toEqual(before);
  });
});
