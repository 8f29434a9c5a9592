import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import "../devices/e1000.js";
import "../devices/ne2k-pci.js";
import "../devices/rtl8139.js";
import { configDword, readText } from "./support/qemu-fixtures.js";
import {
  differences,
  expandRuns,
  labelled,
  labelledOne,
  loadRegisterFixture,
  readValues,
  replay,
  replayMatchesQemu,
  scans,
  type Step,
} from "./support/register-fixtures.js";

// Register facts come from QEMU 7.2 through the scenarios of test/fixtures/qemu/registers
// (regenerate-registers.mjs): each test replays one on machbus and compares every read.

const SLOT2 = 2 << 3;
const DEFAULT_MAC = "52:54:00:12:34:56";

/** A MAC address as the three little-endian words EEPROMs and RAL/RAH hold it. */
const macWords = (mac: string): number[] => {
  const b = mac.split(":").map((h) => parseInt(h, 16));
  return [0, 2, 4].map((i) => b[i]! | (b[i + 1]! << 8));
};

/** Writes all ones to a config dword and reads it back, as the fixture protocol does. */
function sizeBar(m: Machine, offset: number, devfn = SLOT2): number {
  m.configWrite(0, devfn, offset, 4, 0xffffffff);
  return m.configRead(0, devfn, offset);
}

/** The block `info qtree` prints for the device at 00:02.0, indentation made relative. */
function qtreeBlock(text: string, driver: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trimStart().startsWith(`dev: ${driver}, id`));
  const indent = lines[start]!.length - lines[start]!.trimStart().length;
  const block = [lines[start]!.slice(indent)];
  for (const l of lines.slice(start + 1)) {
    if (l.length - l.trimStart().length <= indent) break;
    block.push(l.slice(indent));
  }
  return block;
}

describe("e1000", () => {
  const QEMU_72 = "e1000@pc-i440fx-7.2";
  const RAH_AV = 0x80000000; // address valid
  /** Offsets (in the BAR) and values of the non-zero reads of a scan of the whole BAR. */
  const nonZero = (steps: Step[]): [number, number][] => scans(steps)[0]!.flatMap((v, i) => (v ? [[4 * i, v] as [number, number]] : []));
  /** The registers a write-ones sweep changed, as offset -> value read back. */
  const writable = (steps: Step[]) => {
    const sweep = steps.find((s) => !Array.isArray(s) && "writeOnes" in s) as {
      skip: string[];
      before: [number, string][];
      after: [number, string][];
    };
    const skip = new Set(sweep.skip.map((o) => parseInt(o, 16)));
    const offsets = Array.from({ length: 0x8000 }, (_, i) => 4 * i).filter((o) => !skip.has(o));
    const before = expandRuns(sweep.before);
    const after = expandRuns(sweep.after);
    return new Map(offsets.flatMap((o, i) => (after[i] !== before[i] ? [[o, after[i]!]] : [])));
  };

  it("BAR 0 is 128 KiB of memory and BAR 1 64 ports: all ones read back as QEMU's", () => {
    const m = Machine.create({ devices: ["e1000"] });
    const qemu = [0x10, 0x14].map((o) => configDword(QEMU_72, "writeOnes", o));
    expect([sizeBar(m, 0x10), sizeBar(m, 0x14)]).toEqual(qemu);
    expect([(~qemu[0]! + 1) >>> 0, (~(qemu[1]! & ~3) + 1) >>> 0, qemu[1]! & 1]).toEqual([128 * 1024, 64, 1]);
  });

  it("the option ROM BAR is 256 KiB (efi-e1000.rom) on pc-i440fx-7.2 and 128 KiB (pxe-e1000.rom) on 1.4", () => {
    const rom72 = configDword(QEMU_72, "writeOnes", 0x30);
    const rom14 = configDword("e1000@pc-i440fx-1.4", "writeOnes", 0x30);
    expect(sizeBar(Machine.create({ devices: ["e1000"] }), 0x30)).toBe(rom72);
    expect(sizeBar(Machine.create({ machine: "pc-i440fx-1.4", devices: ["e1000"] }), 0x30)).toBe(rom14);
    expect([(~(rom72 & ~1) + 1) >>> 0, (~(rom14 & ~1) + 1) >>> 0]).toEqual([256 * 1024, 128 * 1024]);
  });

  it("a mapped e1000 reports its MAC in RAL0/RAH0 through MMIO, with the address-valid bit", () => {
    const { qemu } = replayMatchesQemu("e1000-mac");
    const [w0, w1, w2] = macWords(DEFAULT_MAC);
    expect([labelledOne(qemu, "RAL0"), labelledOne(qemu, "RAH0")]).toEqual([(w0! | (w1! << 16)) >>> 0, (RAH_AV | w2!) >>> 0]);
  });

  it("after reset the 128 KiB of registers read as on QEMU: CTRL, STATUS, EECD, VET, LEDCTL, PBA, RA0, MANC, zeros elsewhere", () => {
    const { qemu } = replayMatchesQemu("e1000-reset");
    const [CTRL, STATUS, EECD, VET, LEDCTL, PBA, RAL0, RAH0, MANC] = [0x0, 0x8, 0x10, 0x38, 0xe00, 0x1000, 0x5400, 0x5404, 0x5820];
    expect(nonZero(qemu).map(([o]) => o)).toEqual([CTRL, STATUS, EECD, VET, LEDCTL, PBA, RAL0, RAH0, MANC]);
    // pc-i440fx-1.4 turns init-vet off: VET stays 0.
    const { qemu: qemu14 } = replayMatchesQemu("e1000-reset@pc-i440fx-1.4");
    expect(nonZero(qemu14)).toEqual(nonZero(qemu).filter(([o]) => o !== VET));
  });

  it("the I/O BAR reads 0 whatever is written", () => {
    const { qemu } = replayMatchesQemu("e1000-io-bar");
    expect(readValues(qemu)).toEqual([0, 0, 0]);
  });

  it("registers are dword-only: a byte or word access reads or writes the whole register at its offset", () => {
    const { qemu } = replayMatchesQemu("e1000-narrow-access");
    const ral0 = labelledOne(loadRegisterFixture("e1000-mac").steps, "RAL0");
    expect(readValues(qemu).slice(0, 3)).toEqual([ral0 & 0xff, ral0 & 0xff, ral0 & 0xff]);
    expect([labelledOne(qemu, "RAL0"), labelledOne(qemu, "RAH0")]).toEqual([0xaa, 0xbeef]);
  });

  it("writing all ones to every register shows QEMU's write masks, and which ones mitigation and extra_mac_registers gate", () => {
    // Registers with side effects (CTRL, EECD, EERD, MDIC, ICR, ICS, IMS, IMC, RCTL, TCTL, TDT) are left out.
    const all = writable(replayMatchesQemu("e1000-write-ones").qemu);
    const off = writable(replayMatchesQemu("e1000-write-ones-flags-off").qemu);
    const [ITR, RADV, TADV] = [0xc4, 0x282c, 0x382c];
    expect([ITR, RADV, TADV].map((o) => [all.has(o), off.has(o)])).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);
    expect([...off].every(([o, v]) => all.get(o) === v)).toBe(true);
    // For register arrays QEMU gates only the first one (IP4AT, IP6AT, WUPM, FFLT, FFMT, FFVT, PBM).
    for (const array of [0x5840, 0x5880, 0x5a00, 0x5f00, 0x9000, 0x9800, 0x10000])
      expect([all.has(array), off.has(array), off.has(array + 4)]).toEqual([true, false, true]);
  });

  it("CTRL.RST clears itself and resets nothing; STATUS ignores writes; RCTL, TCTL and TDT store what QEMU stores", () => {
    const { qemu } = replayMatchesQemu("e1000-ctrl-status-writes");
    const CTRL_RST = 1 << 26;
    expect(labelledOne(qemu, "CTRL")).toBe((0xffffffff & ~CTRL_RST) >>> 0);
    expect(labelledOne(qemu, "RAL0")).toBe(0xdeadbeef);
    expect(labelledOne(qemu, "STATUS")).toBe(new Map(nonZero(loadRegisterFixture("e1000-reset").steps)).get(0x8));
  });

  it("EERD reads EEPROM words: the MAC in words 0-2, the device id in 11 and 13, the checksum in 63", () => {
    const { qemu } = replayMatchesQemu("e1000-eerd");
    const word = (n: number) => labelledOne(qemu, `word ${n}`) >>> 16;
    const deviceId = configDword(QEMU_72, "reset", 0x00) >>> 16;
    expect([word(0), word(1), word(2), word(11), word(13)]).toEqual([...macWords(DEFAULT_MAC), deviceId, deviceId]);
    expect(labelled(qemu, "checksum").reduce((sum, v) => sum + (v >>> 16), 0) & 0xffff).toBe(0xbaba);
    expect(labelledOne(qemu, "EERD without START")).toBe(0x1234); // stored, no read started
  });

  it("the EEPROM answers Microwire reads bit-banged through EECD, as a Linux driver reads it", () => {
    const { qemu } = replayMatchesQemu("e1000-eeprom-microwire");
    const [PRES, GNT, DO] = [0x100, 0x80, 0x08];
    expect(labelledOne(qemu, "EECD idle") & (PRES | GNT | DO)).toBe(PRES | GNT | DO); // present, granted, DO idle high
    const word = (n: number) => labelled(qemu, `word ${n}`).reduce((w, v) => (w << 1) | (v & DO ? 1 : 0), 0);
    expect([0, 1, 2, 11].map(word)).toEqual([...macWords("52:54:00:ab:cd:ef"), configDword(QEMU_72, "reset", 0x00) >>> 16]);
  });

  it("MDIC reads the PHY at address 1: QEMU's register values, and an error for registers it does not have", () => {
    const { qemu } = replayMatchesQemu("e1000-mdic");
    const [READY, ERROR] = [1 << 28, 1 << 30];
    const phy = Array.from({ length: 32 }, (_, r) => labelledOne(qemu, `PHY ${r}`));
    expect(phy.every((v) => v & READY)).toBe(true);
    const missing = phy.filter((v) => v & ERROR);
    expect([missing.length > 0, missing.every((v) => (v & 0xffff) === 0)]).toEqual([true, true]);
    // PHY address 2 does not answer: MDIC keeps the previous value, with the error bit
    expect(labelledOne(qemu, "PHY address 2")).toBe(phy[31]);
  });

  it("an unmasked interrupt cause raises INTA (status bit 3); reading ICR returns and clears the causes", () => {
    const { qemu } = replayMatchesQemu("e1000-interrupt-cause");
    const intx = (label: string) => (labelledOne(qemu, label) >>> 16) & 0x08;
    expect([labelledOne(qemu, "IMS"), labelledOne(qemu, "ICS"), intx("status raised")]).toEqual([0xff, 0x4, 0x08]);
    expect([labelledOne(qemu, "ICR"), labelledOne(qemu, "ICR again"), labelledOne(qemu, "ICS after ICR"), intx("status lowered")]).toEqual([
      0x4, 0, 0, 0,
    ]);
    expect(labelledOne(qemu, "IMS after IMC")).toBe(0xff & ~0xf0);
  });

  it("an autonegotiation restart completes at once here, where QEMU takes the link down for 500 ms: then link up, AN complete, partner ack, LSC", () => {
    const fixture = loadRegisterFixture("e1000-autoneg-restart");
    const { steps } = replay(fixture);
    const STATUS_LU = 0x2;
    // The deliberate difference (README): machbus devices have no timers.
    expect(differences(steps, fixture.steps)).toEqual(["STATUS during autonegotiation"]);
    expect([
      labelledOne(fixture.steps, "STATUS during autonegotiation") & STATUS_LU,
      labelledOne(steps, "STATUS during autonegotiation") & STATUS_LU,
    ]).toEqual([0, STATUS_LU]);
    const [BMSR_LINK, BMSR_AN_DONE, ANLPAR_ACK, ICR_LSC] = [0x4, 0x20, 0x4000, 0x4];
    expect([
      labelledOne(steps, "PHY 1") & (BMSR_LINK | BMSR_AN_DONE),
      labelledOne(steps, "PHY 5") & ANLPAR_ACK,
      labelledOne(steps, "STATUS") & STATUS_LU,
      labelledOne(steps, "ICS"),
    ]).toEqual([BMSR_LINK | BMSR_AN_DONE, ANLPAR_ACK, STATUS_LU, ICR_LSC]);
    const { qemu } = replayMatchesQemu("e1000-autoneg-off");
    expect(labelledOne(qemu, "ICS")).toBe(0);
  });

  it("a snapshot brings back the registers, the PHY and the EEPROM shift state", () => {
    replayMatchesQemu("e1000-snapshot");
  });
});

describe("rtl8139", () => {
  const QEMU_72 = "rtl8139@pc-i440fx-7.2";

  it("BAR 0 is 256 ports and BAR 1 256 bytes; the capability pointer is set with no capability bit, as on QEMU", () => {
    const m = Machine.create({ devices: ["rtl8139"] });
    expect([sizeBar(m, 0x10), sizeBar(m, 0x14)]).toEqual([0x10, 0x14].map((o) => configDword(QEMU_72, "writeOnes", o)));
    const [bar0, bar1] = [0x10, 0x14].map((o) => configDword(QEMU_72, "writeOnes", o));
    expect([(~(bar0! & ~3) + 1) >>> 0, (~bar1! + 1) >>> 0]).toEqual([256, 256]);
    const capPointer = configDword(QEMU_72, "reset", 0x34) & 0xff;
    expect(capPointer).not.toBe(0);
    expect(m.configRead(0, SLOT2, 0x34)).toBe(capPointer);
    expect(m.configRead(0, SLOT2, 0x04) >>> 16).toBe(configDword(QEMU_72, "reset", 0x04) >>> 16);
    expect((configDword(QEMU_72, "reset", 0x04) >>> 16) & 0x10).toBe(0); // no capability list
    expect(m.configRead(0, SLOT2, capPointer)).toBe(configDword(QEMU_72, "reset", capPointer));
  });

  it("rtl8139 reads its MAC from IDR0-5 through the I/O BAR, and the same registers through the memory BAR", () => {
    const { qemu } = replayMatchesQemu("rtl8139-mac");
    const [b0, b1, b2, b3, b4, b5, d0, d1] = readValues(qemu);
    expect([b0, b1, b2, b3, b4, b5].map((b) => b!.toString(16).padStart(2, "0")).join(":")).toBe(DEFAULT_MAC);
    expect([d0, d1]).toEqual([(b0! | (b1! << 8) | (b2! << 16) | (b3! << 24)) >>> 0, b4! | (b5! << 8)]);
  });

  it("after reset the registers read as on QEMU, byte by byte, word by word and dword by dword", () => {
    replayMatchesQemu("rtl8139-reset");
  });

  it("IDR and MAR take writes of any width; ChipCmd.RST restores IDR from the MAC, keeps MAR, and reads back clear", () => {
    const { qemu } = replayMatchesQemu("rtl8139-idr-mar-chipcmd");
    expect(readValues(qemu).slice(0, 6)).toEqual([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
    const [RST, RE, TE, BUFE] = [0x10, 0x08, 0x04, 0x01];
    expect(labelledOne(qemu, "ChipCmd RE|TE")).toBe(RE | TE | BUFE); // receiver and transmitter on, buffer empty
    expect(labelledOne(qemu, "ChipCmd after RST") & RST).toBe(0);
    expect([labelledOne(qemu, "IDR0 after RST"), labelledOne(qemu, "MAR0 after RST")]).toEqual([0x52, 0x99]);
  });

  it("the 93C46 EEPROM behind Cfg9346 holds the RTL8139 signature, the PCI ids and the MAC in words 7-9", () => {
    const { qemu } = replayMatchesQemu("rtl8139-eeprom");
    const word = (n: number) => labelled(qemu, `word ${n}`).reduce((w, v) => (w << 1) | (v & 1), 0);
    const ids = configDword(QEMU_72, "reset", 0x00);
    expect([1, 2, 7, 8, 9].map(word)).toEqual([ids & 0xffff, ids >>> 16, ...macWords("52:54:00:ab:cd:ef")]);
    expect(word(0)).toBe(0x8129); // the RTL8139 EEPROM signature
    expect(labelledOne(qemu, "Cfg9346 after")).toBe(0x80); // EEPROM mode bits as written, EEDO low
  });

  it("a system reset restores IDR but not MAR", () => {
    const { qemu } = replayMatchesQemu("rtl8139-system-reset");
    expect([labelledOne(qemu, "IDR0"), labelledOne(qemu, "MAR0")]).toEqual([0x52, 0x77]);
  });

  it("a snapshot brings back IDR, MAR and ChipCmd", () => {
    replayMatchesQemu("rtl8139-snapshot");
  });
});

describe("ne2k_pci", () => {
  it("BAR 0 is 256 ports; the ROM BAR is 256 KiB on 7.2 and 128 KiB (pxe-ne2k_pci.rom) on 1.4, as on QEMU", () => {
    const bar0 = configDword("ne2k_pci@pc-i440fx-7.2", "writeOnes", 0x10);
    const rom72 = configDword("ne2k_pci@pc-i440fx-7.2", "writeOnes", 0x30);
    const rom14 = configDword("ne2k_pci@pc-i440fx-1.4", "writeOnes", 0x30);
    expect(sizeBar(Machine.create({ devices: ["ne2k_pci"] }), 0x10)).toBe(bar0);
    expect(sizeBar(Machine.create({ devices: ["ne2k_pci"] }), 0x30)).toBe(rom72);
    expect(sizeBar(Machine.create({ machine: "pc-i440fx-1.4", devices: ["ne2k_pci"] }), 0x30)).toBe(rom14);
    expect([bar0 & 1, (~(bar0 & ~3) + 1) >>> 0, (~(rom72 & ~1) + 1) >>> 0, (~(rom14 & ~1) + 1) >>> 0]).toEqual([
      1,
      256,
      256 * 1024,
      128 * 1024,
    ]);
  });

  it("after reset: page 0 shows ISR reset-complete and the RTL8029 id 'PC'; pages 1-3 as QEMU shows them", () => {
    const { qemu } = replayMatchesQemu("ne2k-reset-pages");
    const page0 = labelled(qemu, "page 0");
    const ISR_RST = 0x80;
    expect([page0[7]! & ISR_RST, String.fromCharCode(page0[10]!, page0[11]!)]).toEqual([ISR_RST, "PC"]);
    expect([1, 2, 3].map((p) => labelled(qemu, `page ${p}`)[0]! >> 6)).toEqual([1, 2, 3]); // CR shows the page
  });

  it("ne2k reads its MAC from the address PROM by remote DMA: each byte twice, then 'WW'; then remote DMA complete", () => {
    const { qemu } = replayMatchesQemu("ne2k-prom-remote-dma");
    const prom = labelled(qemu, "PROM");
    const mac = DEFAULT_MAC.split(":").map((h) => parseInt(h, 16));
    expect(prom.slice(0, 12)).toEqual(mac.flatMap((b) => [b, b]));
    expect(String.fromCharCode(...prom.slice(28))).toBe("WWWW");
    const ISR_RDC = 0x40;
    expect(labelledOne(qemu, "ISR") & ISR_RDC).toBe(ISR_RDC);
  });

  it("PAR0-5 start at 0 and hold what the driver copies there", () => {
    const { qemu } = replayMatchesQemu("ne2k-par");
    expect(labelled(qemu, "page 1").slice(1, 7)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(labelled(qemu, "page 1 after").slice(1, 7)).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  });

  it("only byte accesses reach the registers: wider ones and unused ports read all ones", () => {
    const { qemu } = replayMatchesQemu("ne2k-wide-access");
    // word, dword and word at the registers; bytes at 0x11 and 0x20; a word at 0x1e
    expect(readValues(qemu)).toEqual([0xffff, 0xffffffff, 0xffff, 0xff, 0xff, 0xffff]);
  });

  it("word-wide remote DMA writes packet RAM and reads it back; the transfer count ends it with RDC", () => {
    const { qemu } = replayMatchesQemu("ne2k-word-remote-dma");
    expect(labelledOne(qemu, "ISR after the write")).toBe(0x40);
    expect(labelled(qemu, "data")).toEqual([0xbeef, 0xcafe]);
  });

  it("reading the reset port resets the chip; a system reset leaves its registers alone, as in QEMU", () => {
    const { qemu } = replayMatchesQemu("ne2k-reset-port");
    expect(labelledOne(qemu, "PAR0 after system reset")).toBe(0xaa);
    expect(labelledOne(qemu, "ISR after the reset port") & 0x80).toBe(0x80);
  });

  it("an unmasked ISR bit raises INTA", () => {
    const { qemu } = replayMatchesQemu("ne2k-interrupt");
    expect([labelledOne(qemu, "status raised") >>> 16, labelledOne(qemu, "status lowered") >>> 16].map((s) => s & 0x08)).toEqual([0x08, 0]);
  });

  it("a snapshot brings back the registers and the NIC memory", () => {
    replayMatchesQemu("ne2k-snapshot");
  });
});

describe("NIC MAC addresses", () => {
  it("info qtree lists each NIC's properties as QEMU does, on pc-i440fx-7.2 and with 1.4's compat properties", () => {
    for (const driver of ["e1000", "rtl8139", "ne2k_pci"]) {
      for (const machine of ["pc-i440fx-7.2", "pc-i440fx-1.4"]) {
        const m = Machine.create({ machine, devices: [driver] });
        expect(qtreeBlock(formatQtree(m), driver)).toEqual(qtreeBlock(readText(`qtree/${driver}@${machine}.txt`), driver));
      }
    }
  });

  it("NICs without mac= get consecutive addresses, skipping one given explicitly (QEMU: 57 given, then 56, 58)", () => {
    const { qemu } = replayMatchesQemu("nic-mac-allocation");
    const prom = labelled(qemu, "ne2k PROM").filter((_, i) => i % 2 === 0);
    const lastByte = (rah: number) => (rah >>> 8) & 0xff;
    expect([
      lastByte(labelledOne(qemu, "e1000 00:02.0 RAH0")),
      labelledOne(qemu, "rtl8139 IDR5"),
      prom[5],
      lastByte(labelledOne(qemu, "e1000 00:06.0 RAH0")),
    ]).toEqual([0x57, 0x56, 0x58, 0x59]);
  });

  it("info qtree shows the address each NIC got, as QEMU's does", () => {
    const m = Machine.create({ devices: ["rtl8139", "ne2k_pci", "e1000"] });
    const macs = formatQtree(m)
      .split("\n")
      .filter((l) => l.includes("mac = "))
      .map((l) => l.trim());
    expect(macs).toEqual(['mac = "52:54:00:12:34:58"', 'mac = "52:54:00:12:34:57"', 'mac = "52:54:00:12:34:56"']);
  });

  it("an unplugged NIC gives its address back", () => {
    const m = Machine.create({ devices: ["e1000,id=a"] });
    const mac = (id: string) => (m.findDevice(id) as unknown as { macAddress: string }).macAddress;
    m.addDevice("rtl8139,id=b");
    expect([mac("a"), mac("b")]).toEqual(["52:54:00:12:34:56", "52:54:00:12:34:57"]);
    m.removeDevice("b");
    m.addDevice("ne2k_pci,id=c");
    expect(mac("c")).toBe("52:54:00:12:34:57");
  });

  it("an address two NICs were given stays taken until both are unplugged, as QEMU counts its users", () => {
    const m = Machine.create({ devices: ["e1000,id=a,mac=52:54:00:12:34:56", "rtl8139,id=b,mac=52:54:00:12:34:56"] });
    const mac = (id: string) => (m.findDevice(id) as unknown as { macAddress: string }).macAddress;
    m.removeDevice("a");
    m.addDevice("ne2k_pci,id=c");
    expect(mac("c")).toBe("52:54:00:12:34:57");
    m.removeDevice("b");
    m.addDevice("e1000,id=d");
    expect(mac("d")).toBe("52:54:00:12:34:56");
  });
});
