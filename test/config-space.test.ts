import { describe, expect, it } from "vitest";
import { ConfigSpace, Machine, pci } from "../src/index.js";
import { initHeaderMasks } from "../src/pci/config-space.js";

describe("config space masks", () => {
  it("a guest write keeps read-only bits and takes writable ones", () => {
    const s = new ConfigSpace(256);
    s.config[0x40] = 0xa5;
    s.wmask[0x40] = 0x0f;
    s.guestWrite(0x40, 0xff, 1);
    expect(s.config[0x40]).toBe(0xaf);
    s.guestWrite(0x40, 0x00, 1);
    expect(s.config[0x40]).toBe(0xa0);
  });

  it("writing 1 to a w1c bit clears it; writing 0 leaves it", () => {
    const s = new ConfigSpace(256);
    initHeaderMasks(s);
    s.set16(pci.PCI_STATUS, 0xf900 | pci.PCI_STATUS_CAP_LIST);
    s.guestWrite(pci.PCI_STATUS, 0x0000, 2);
    expect(s.get16(pci.PCI_STATUS)).toBe(0xf910);
    s.guestWrite(pci.PCI_STATUS, 0x2100, 2);
    expect(s.get16(pci.PCI_STATUS)).toBe(0xd810);
    s.guestWrite(pci.PCI_STATUS, 0xffff, 2);
    expect(s.get16(pci.PCI_STATUS)).toBe(pci.PCI_STATUS_CAP_LIST);
  });

  it("the default masks: command 0x0507, cache line and interrupt line writable, 0x40 up writable", () => {
    const s = new ConfigSpace(256);
    initHeaderMasks(s);
    s.guestWrite(pci.PCI_COMMAND, 0xffff, 2);
    expect(s.get16(pci.PCI_COMMAND)).toBe(0x0507);
    s.guestWrite(0x0c, 0xffffffff, 4);
    expect(s.get32(0x0c)).toBe(0x000000ff); // latency timer, header type, BIST read-only
    s.guestWrite(0x3c, 0xffff, 2);
    expect(s.get16(0x3c)).toBe(0x00ff); // interrupt pin read-only
    s.guestWrite(0x40, 0xffffffff, 4);
    s.guestWrite(0xfc, 0xffffffff, 4);
    expect([s.get32(0x40), s.get32(0xfc)]).toEqual([0xffffffff, 0xffffffff]);
  });

  it("accesses are little endian at any alignment, through the real data port", () => {
    const m = Machine.create();
    m.ioWrite(0xcf8, 4, 0x80000000);
    expect(m.ioRead(0xcfd, 2)).toBe(0x3780); // bytes 0x01 and 0x02 of 86 80 37 12
    m.ioWrite(0xcf8, 4, 0x8000000b);
    expect(m.ioRead(0xcfc, 4)).toBe(0x00000006); // QEMU keeps bits 1:0: bytes 0x0b-0x0e
  });
});
