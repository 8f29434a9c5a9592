import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { formatMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { bootindexProperty, prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, MAC_ADDRESSES } from "../src/machine/tokens.js";
import { PCI_CACHE_LINE_SIZE } from "../src/pci/constants.js";
import type { RegionOps } from "../src/memory/address-space.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { bool, describeState, sparseU32Array, struct, u16, u16Array, u32 } from "../src/state/description.js";

const properties = {
  ...nicProperties,
  autonegotiation: prop(types.bool, true, "a PHY autonegotiation restart takes the link down and up again, then signals link change"),
  mitigation: prop(types.bool, true, "interrupt mitigation registers ITR, RDTR, RADV, TADV exist (off: they read 0, writes are dropped)"),
  extra_mac_registers: prop(types.bool, true, "the wake-up, filter, FIFO and extra statistics registers exist (off: they read 0)"),
  migrate_tso_props: prop(types.bool, true, "migrates TSO context state separately (no effect on the guest view)"),
  "init-vet": prop(types.bool, true, "the VLAN ether type register VET resets to 0x8100 (off: 0)"),
  bootindex: bootindexProperty,
};

const MMIO_SIZE = 0x20000;
const IO_SIZE = 0x40;
/** BAR 1: QEMU's e1000-io reads 0 and ignores writes (one handler for every NIC). */
const IO_PORTS = { read: (): number => 0, write: (): void => {} };

// Register offsets in BAR 0 (Intel 8254x Software Developer's Manual, section 13).
const CTRL = 0x0000;
const STATUS = 0x0008;
const EECD = 0x0010;
const EERD = 0x0014;
const MDIC = 0x0020;
const VET = 0x0038;
const ICR = 0x00c0;
const ICS = 0x00c8;
const IMS = 0x00d0;
const IMC = 0x00d8;
const RCTL = 0x0100;
const TCTL = 0x0400;
const LEDCTL = 0x0e00;
const PBA = 0x1000;
const TDT = 0x3818;
const RA = 0x5400;
const MANC = 0x5820;

const CTRL_RST = 0x04000000;
const STATUS_LU = 0x00000002;
const RAH_AV = 0x80000000;
const ICR_LSC = 0x00000004;
const ICR_MDAC = 0x00000200;
const ETH_P_VLAN = 0x8100;

/** MAC registers after QEMU's reset (e1000_reset), besides RA and VET. */
const RESET_VALUES: ReadonlyArray<readonly [number, number]> = [
  [CTRL, 0x00140240], // SWDPIN2 | SWDPIN0 | SPD_1000 | SLU
  [STATUS, 0x80080783], // GIO master enable, 1000 Mb/s full duplex, link up
  [LEDCTL, 0x00000602],
  [PBA, 0x00100030],
  [MANC, 0x00222300],
];

/** Which flag property a register depends on: QEMU drops accesses to it while the flag is off. */
const MIT = 1;
const MAC = 2;
const ALL = 0xffffffff;

/**
 * Registers a write stores into (offset, count, bits kept, flag): QEMU's plain and masked
 * setters, as writing all ones and reading back shows them on QEMU 7.2. Where QEMU gates a
 * register array on a flag, only its first register is gated (as QEMU's table marks them).
 */
const STORED: ReadonlyArray<readonly [number, number, number, number]> = [
  [VET, 1, ALL, 0],
  [0x00c4, 1, 0xffff, MIT], // ITR
  [RCTL, 1, ALL, 0],
  [TCTL, 1, ALL, 0],
  [0x0458, 1, 0xffff, MAC], // AIT
  [LEDCTL, 1, ALL, 0],
  [PBA, 1, ALL, 0],
  [0x2410, 1, 0x1fff, MAC], // RDFH
  [0x2418, 1, 0x1fff, MAC], // RDFT
  [0x2420, 1, 0x1fff, MAC], // RDFHS
  [0x2428, 1, 0x1fff, MAC], // RDFTS
  [0x2430, 1, 0x1fff, MAC], // RDFPC
  [0x2800, 2, ALL, 0], // RDBAL, RDBAH
  [0x2808, 1, 0xfff80, 0], // RDLEN
  [0x2810, 1, 0xffff, 0], // RDH
  [0x2818, 1, 0xffff, 0], // RDT
  [0x2820, 1, 0xffff, MIT], // RDTR
  [0x282c, 1, 0xffff, MIT], // RADV
  [0x3410, 1, 0x7ff, MAC], // TDFH
  [0x3418, 1, 0x7ff, MAC], // TDFT
  [0x3420, 1, 0x1fff, MAC], // TDFHS
  [0x3428, 1, 0x1fff, MAC], // TDFTS
  [0x3430, 1, 0x1fff, MAC], // TDFPC
  [0x3800, 2, ALL, 0], // TDBAL, TDBAH
  [0x3808, 1, 0xfff80, 0], // TDLEN
  [0x3810, 1, 0xffff, 0], // TDH
  [TDT, 1, 0xffff, 0],
  [0x3828, 1, ALL, 0], // TXDCTL
  [0x382c, 1, 0xffff, MIT], // TADV
  [0x4058, 1, ALL, MAC], // FCRUC
  [0x5200, 128 + 32, ALL, 0], // MTA, then RA (receive addresses)
  [0x5600, 128, ALL, 0], // VFTA
  [0x5800, 1, ALL, MAC], // WUC
  [0x5808, 1, ALL, 0], // WUFC
  [0x5810, 1, ALL, MAC], // WUS
  [0x5838, 1, ALL, MAC], // IPAV
  [0x5840, 7, ALL, MAC], // IP4AT
  [0x5880, 4, ALL, MAC], // IP6AT
  [0x5a00, 32, ALL, MAC], // WUPM
  [0x5b50, 1, ALL, 0], // SWSM
  [0x5f00, 7, 0x7ff, MAC], // FFLT
  [0x9000, 255, 0xf, MAC], // FFMT
  [0x9800, 255, ALL, MAC], // FFVT
  [0x10000, 16384, ALL, MAC], // PBM (packet buffer memory)
];
/** Per register: the bits a write keeps (0: writes are dropped), and the flag gating it (0: none). */
const WRITE_MASK = new Uint32Array(MMIO_SIZE / 4);
const GATE = new Uint8Array(MMIO_SIZE / 4);
for (const [offset, count, mask, flag] of STORED) {
  WRITE_MASK.fill(mask, offset >> 2, (offset >> 2) + count);
  GATE[offset >> 2] = flag;
}

/**
 * Register storage: the packet buffer memory (PBM, 64 KiB) is allocated on its first non-zero
 * write; every other register that can hold a value (a reset value, a stored write, one the
 * model sets) has a slot in a small array. Unslotted registers read 0. A machine of a thousand
 * NICs then holds a few KiB per NIC, not QEMU's 128 KiB, and saves without scanning them all.
 */
const PBM_FIRST = 0x10000 >> 2;
const PBM_COUNT = 16384;
const slotted = new Set([CTRL, STATUS, EERD, MDIC, ICR, ICS, IMS, ...RESET_VALUES.map(([offset]) => offset)].map((offset) => offset >> 2));
for (let index = 0; index < PBM_FIRST; index++) if (WRITE_MASK[index] !== 0) slotted.add(index);
/** Per slot, its register index, in index order (snapshots list registers so). */
const SLOT_INDEX = Uint16Array.from(slotted).sort();
const SLOTS = SLOT_INDEX.length;
const SLOT = new Int16Array(PBM_FIRST).fill(-1);
SLOT_INDEX.forEach((index, slot) => (SLOT[index] = slot));

/** What the model keeps: the slotted MAC registers, the PBM once written, the PHY and the EEPROM interface's shift state. */
interface E1000Registers {
  /** Slotted registers (see SLOT); use reg() and setReg(). */
  readonly regs: Uint32Array;
  pbm: Uint32Array | null;
  readonly phy: Uint16Array;
  readonly eecd: EepromInterface;
}

interface EepromInterface {
  valIn: number;
  bitnumIn: number;
  bitnumOut: number;
  reading: boolean;
  old: number;
}

const E1000_STATE = describeState<E1000Registers>({
  name: "e1000",
  version: 1,
  fields: [
    sparseU32Array("regs"),
    sparseU32Array("pbm", { lazy: PBM_COUNT }),
    u16Array("phy"),
    struct("eecd", [u32("valIn"), u16("bitnumIn"), u16("bitnumOut"), bool("reading"), u32("old")]),
  ],
});

// EEPROM (Microwire, 64 words) through EECD bit-banging or the EERD read register.
const EECD_SK = 0x01;
const EECD_CS = 0x02;
const EECD_DI = 0x04;
const EECD_DO = 0x08;
const EECD_KEPT = 0x0077; // SK, CS, DI, FWE, REQ: what QEMU keeps of a write
const EECD_GNT = 0x80;
const EECD_PRES = 0x100;
const EEPROM_READ_OPCODE = 6;
const EERD_START = 0x01;
const EERD_DONE = 0x10;
const EEPROM_CHECKSUM_WORD = 0x3f;
const EEPROM_SUM = 0xbaba;
/** QEMU's e1000_eeprom_template: words 0-2 get the MAC, 11 and 13 the device id, 63 the checksum. */
const EEPROM_TEMPLATE = [
  0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000, 0x3000, 0x1000, 0x6403, 0x0000, 0x8086, 0x0000, 0x8086, 0x3040, 0x0008,
  0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700, 0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706, 0x1008, 0x0000,
  0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0100, 0x4000, 0x121c,
  0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
];

// PHY (Marvell 88E1000) behind MDIC.
const MDIC_DATA = 0x0000ffff;
const MDIC_OP_WRITE = 0x04000000;
const MDIC_OP_READ = 0x08000000;
const MDIC_READY = 0x10000000;
const MDIC_INT_EN = 0x20000000;
const MDIC_ERROR = 0x40000000;
const PHY_BMCR = 0;
const PHY_BMSR = 1;
const PHY_ANLPAR = 5;
const BMCR_ANRESTART = 0x0200;
const BMCR_AUTOEN = 0x1000;
const BMCR_RESET = 0x8000;
const BMSR_LINK_ST = 0x0004;
const BMSR_AN_COMP = 0x0020;
const ANLPAR_ACK = 0x4000;
const R = 1;
const W = 2;
/** PHY registers after reset and whether MDIC may read (R) or write (W) them. */
const PHY_REGISTERS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0x1140, R | W], // BMCR: 1000 Mb/s, full duplex, autonegotiation
  [1, 0x794d, R], // BMSR: link up, autonegotiation not complete
  [2, 0x0141, R], // PHY id 1
  [3, 0x0c20, R], // PHY id 2 (8254x)
  [4, 0x0de1, R | W], // ANAR
  [5, 0x01e0, R], // ANLPAR
  [6, 0x0000, R], // ANER
  [9, 0x0e00, R | W], // 1000BASE-T control
  [10, 0x3c00, R], // 1000BASE-T status
  [16, 0x0360, R | W], // PHY specific control
  [17, 0xac00, R], // PHY specific status
  [20, 0x0d60, R | W], // extended PHY specific control
  [21, 0x0000, R], // receive error counter
];

/**
 * E1000Registers whose arrays are made on first use, holding the reset values: a machine of ten
 * thousand NICs the guest never touches then holds none of them.
 */
class LazyRegisters implements E1000Registers {
  pbm: Uint32Array | null = null;
  /** The MAC the receive address registers reset to (known once the NIC is plugged). */
  mac: readonly number[] = [];
  private regsStore: Uint32Array | null = null;
  private phyStore: Uint16Array | null = null;
  private eecdStore: EepromInterface | null = null;

  constructor(private readonly initVet: boolean) {}

  get regs(): Uint32Array {
    if (this.regsStore) return this.regsStore;
    const regs = new Uint32Array(SLOTS);
    for (const [offset, value] of RESET_VALUES) regs[SLOT[offset >> 2]!] = value;
    const m = this.mac;
    regs[SLOT[RA >> 2]!] = (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0;
    regs[SLOT[(RA >> 2) + 1]!] = (m[4]! | (m[5]! << 8) | RAH_AV) >>> 0;
    if (this.initVet) regs[SLOT[VET >> 2]!] = ETH_P_VLAN;
    return (this.regsStore = regs);
  }

  get phy(): Uint16Array {
    if (this.phyStore) return this.phyStore;
    const phy = new Uint16Array(32);
    for (const [reg, value] of PHY_REGISTERS) phy[reg] = value;
    return (this.phyStore = phy);
  }

  get eecd(): EepromInterface {
    return (this.eecdStore ??= { valIn: 0, bitnumIn: 0, bitnumOut: 0, reading: false, old: 0 });
  }

  /** Back to the reset values (made again on first use); the EEPROM interface's shift state survives, as in QEMU. */
  reset(): void {
    this.regsStore = null;
    this.pbm = null;
    this.phyStore = null;
  }
}

/**
 * Intel 82540EM Gigabit Ethernet controller (QEMU's "e1000", 8086:100e rev 3): registers in
 * memory BAR 0 (128 KiB, "e1000-mmio", dword accesses only: a narrower access reads or writes the
 * whole register at offset & ~3), an I/O BAR 1 of 64 ports that reads 0 ("e1000-io").
 * Modelled: reset values, the receive addresses (RAL0/RAH0 hold the MAC), the EEPROM (MAC in
 * words 0-2) through EECD and EERD, the PHY through MDIC, the interrupt cause/mask registers and
 * INTx, and plain storage for the descriptor, filter and wake-up registers.
 * Not emulated: frames (nothing is sent or received, statistics stay 0), interrupt mitigation
 * delays, and the 500 ms an autonegotiation restart takes (here the link is back at once).
 */
@pciDriver({
  name: "e1000",
  description: "Intel Gigabit Ethernet",
  category: "network",
  properties,
  romfile: "efi-e1000.rom",
  parents: ["e1000-base"],
})
export class E1000 extends PciDevice implements RegionOps {
  private readonly state: LazyRegisters;
  private readonly flags: number;
  private eepromStore: Uint16Array | null = null;
  private mac: number[] = [];

  constructor(
    @inject(DEVICE_PROPS) private readonly settings: DeviceProps<typeof properties>,
    @inject(MAC_ADDRESSES) private readonly macs: MacAddresses,
  ) {
    super({ vendorId: 0x8086, deviceId: 0x100e, classCode: 0x0200, revision: 0x03, interruptPin: 1 }, settings);
    // QEMU sets 0x10 at realize; the reset that follows clears it before any guest can look.
    this.config.set8(PCI_CACHE_LINE_SIZE, 0x10);
    this.flags = (settings.mitigation ? MIT : 0) | (settings.extra_mac_registers ? MAC : 0);
    this.state = new LazyRegisters(settings["init-vet"]);
    this.defineBar(0, {
      kind: "mem32",
      size: MMIO_SIZE,
      name: "e1000-mmio",
      ops: this,
      regionOptions: { implMin: 4, implMax: 4, owner: "e1000" },
    });
    this.defineBar(1, { kind: "io", size: IO_SIZE, name: "e1000-io", ops: IO_PORTS });
    this.function.keepState(E1000_STATE, this.state);
  }

  /** The MAC address the NIC was given (QEMU's conf.macaddr). */
  get macAddress(): string {
    return formatMac(this.mac);
  }

  /** QEMU picks the default MAC at realize (the EEPROM holding it is filled on first use). */
  override plugged(): void {
    this.mac = this.macs.claimFor(this.settings);
    this.state.mac = this.mac;
  }

  /** QEMU's EEPROM contents at realize: the template with the MAC and device id, and its checksum. */
  private get eeprom(): Uint16Array {
    if (this.eepromStore) return this.eepromStore;
    const eeprom = Uint16Array.from(EEPROM_TEMPLATE);
    for (let i = 0; i < 3; i++) eeprom[i] = this.mac[2 * i]! | (this.mac[2 * i + 1]! << 8);
    eeprom[11] = eeprom[13] = 0x100e;
    let sum = 0;
    for (let i = 0; i < EEPROM_CHECKSUM_WORD; i++) sum += eeprom[i]!;
    eeprom[EEPROM_CHECKSUM_WORD] = (EEPROM_SUM - sum) & 0xffff;
    return (this.eepromStore = eeprom);
  }

  /** BAR 0's handler (the NIC is its own, so a machine of many NICs makes no handler objects): the register at offset >> 2. */
  read(offset: number): number {
    return this.readRegister(offset >> 2);
  }
  write(offset: number, _size: number, value: number): void {
    this.writeRegister(offset >> 2, value);
  }

  override unplugging(): void {
    this.macs.release(this.mac);
  }

  /** Register `index` (offset >> 2). */
  private reg(index: number): number {
    if (index >= PBM_FIRST) return this.state.pbm?.[index - PBM_FIRST] ?? 0;
    const slot = SLOT[index]!;
    return slot < 0 ? 0 : this.state.regs[slot]!;
  }

  private setReg(index: number, value: number): void {
    if (index >= PBM_FIRST) {
      if (value !== 0) this.state.pbm ??= new Uint32Array(PBM_COUNT);
      if (this.state.pbm) this.state.pbm[index - PBM_FIRST] = value;
      return;
    }
    const slot = SLOT[index]!;
    if (slot >= 0) this.state.regs[slot] = value;
  }

  protected override resetRegisters(): void {
    this.state.reset();
  }

  /** INTx follows the loaded cause and mask registers. */
  override stateLoaded(): void {
    this.setInterruptCause(this.reg(ICR >> 2));
  }

  private accessible(index: number): boolean {
    const flag = GATE[index]!;
    return flag === 0 || (this.flags & flag) !== 0;
  }

  private readRegister(index: number): number {
    switch (index << 2) {
      case EECD:
        return this.readEecd();
      case EERD:
        return this.readEerd();
      case ICR: {
        const causes = this.reg(index);
        this.setInterruptCause(0);
        return causes;
      }
    }
    return this.accessible(index) ? this.reg(index) : 0;
  }

  private writeRegister(index: number, value: number): void {
    switch (index << 2) {
      case CTRL:
        return this.setReg(index, (value & ~CTRL_RST) >>> 0); // self-clearing; QEMU 7.2 does not reset the chip
      case EECD:
        return this.writeEecd(value);
      case EERD:
        return this.setReg(index, value >>> 0);
      case MDIC:
        return this.writeMdic(value);
      case ICS:
        return this.setInterruptCause((value | this.reg(ICR >> 2)) >>> 0);
      case IMS:
        this.setReg(index, (this.reg(index) | value) >>> 0);
        return this.setInterruptCause(this.reg(ICR >> 2));
      case IMC:
        this.setReg(IMS >> 2, (this.reg(IMS >> 2) & ~value) >>> 0);
        return this.setInterruptCause(this.reg(ICR >> 2));
      case ICR:
        return this.setInterruptCause((this.reg(index) & ~value) >>> 0);
    }
    const mask = WRITE_MASK[index]!;
    if (mask !== 0 && this.accessible(index)) this.setReg(index, (value & mask) >>> 0);
  }

  /** ICR and ICS always hold the same causes; INTx is high while an unmasked cause is pending. */
  private setInterruptCause(causes: number): void {
    this.setReg(ICR >> 2, causes);
    this.setReg(ICS >> 2, causes);
    this.setIrq((this.reg(IMS >> 2) & causes) !== 0);
  }

  // ---- EEPROM ----

  private readEecd(): number {
    const s = this.state.eecd;
    let value = EECD_PRES | EECD_GNT | s.old;
    const word = this.eeprom[(s.bitnumOut >> 4) & 0x3f]!;
    if (!s.reading || ((word >> ((s.bitnumOut & 0xf) ^ 0xf)) & 1) !== 0) value |= EECD_DO;
    return value;
  }

  /** Microwire: the guest clocks a 3-bit read opcode and a 6-bit address in, then 16 data bits out. */
  private writeEecd(value: number): void {
    const s = this.state.eecd;
    const old = s.old;
    s.old = value & EECD_KEPT;
    if (!(value & EECD_CS)) return;
    if ((value ^ old) & EECD_CS) {
      s.valIn = 0;
      s.bitnumIn = 0;
      s.bitnumOut = 0;
      s.reading = false;
    }
    if (!((value ^ old) & EECD_SK)) return;
    if (!(value & EECD_SK)) {
      s.bitnumOut = (s.bitnumOut + 1) & 0xffff;
      return;
    }
    s.valIn = ((s.valIn << 1) | (value & EECD_DI ? 1 : 0)) >>> 0;
    s.bitnumIn = (s.bitnumIn + 1) & 0xffff;
    if (s.bitnumIn === 9 && !s.reading) {
      s.bitnumOut = (((s.valIn & 0x3f) << 4) - 1) & 0xffff;
      s.reading = ((s.valIn >> 6) & 7) === EEPROM_READ_OPCODE;
    }
  }

  private readEerd(): number {
    const value = this.reg(EERD >> 2);
    if (!(value & EERD_START)) return value;
    const request = value & ~EERD_START;
    const word = request >>> 8;
    if (word > EEPROM_CHECKSUM_WORD) return (request | EERD_DONE) >>> 0;
    return ((this.eeprom[word]! << 16) | EERD_DONE | request) >>> 0;
  }

  // ---- PHY ----

  private writeMdic(value: number): void {
    const data = value & MDIC_DATA;
    const reg = (value >>> 16) & 0x1f;
    const access = PHY_REGISTERS.find(([n]) => n === reg)?.[2] ?? 0;
    if (((value >>> 21) & 0x1f) !== 1) {
      value = this.reg(MDIC >> 2) | MDIC_ERROR; // only PHY address 1 answers
    } else if (value & MDIC_OP_READ) {
      value = access & R ? (value ^ data) | this.state.phy[reg]! : value | MDIC_ERROR;
    } else if (value & MDIC_OP_WRITE) {
      if (!(access & W)) value |= MDIC_ERROR;
      else if (reg === PHY_BMCR) this.writePhyControl(data);
      else this.state.phy[reg] = data;
    }
    this.setReg(MDIC >> 2, (value | MDIC_READY) >>> 0);
    if (value & MDIC_INT_EN) this.setInterruptCause((this.reg(ICR >> 2) | ICR_MDAC) >>> 0);
  }

  /** Reset and restart bits clear themselves; a restart renegotiates (here at once) and signals LSC. */
  private writePhyControl(data: number): void {
    this.state.phy[PHY_BMCR] = data & ~(0x3f | BMCR_RESET | BMCR_ANRESTART);
    if (!this.settings.autonegotiation || !(this.state.phy[PHY_BMCR]! & BMCR_AUTOEN) || !(data & BMCR_ANRESTART)) return;
    this.setReg(STATUS >> 2, (this.reg(STATUS >> 2) | STATUS_LU) >>> 0);
    this.state.phy[PHY_BMSR] = this.state.phy[PHY_BMSR]! | BMSR_LINK_ST | BMSR_AN_COMP;
    this.state.phy[PHY_ANLPAR] = this.state.phy[PHY_ANLPAR]! | ANLPAR_ACK;
    this.setInterruptCause((this.reg(ICR >> 2) | ICR_LSC) >>> 0);
  }
}
