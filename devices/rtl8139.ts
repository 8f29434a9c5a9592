import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { NicMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { bootindexProperty } from "../src/machine/properties.js";
import { DEVICE_PROPS, MAC_ADDRESSES } from "../src/machine/tokens.js";
import { PCI_CAPABILITY_LIST } from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { bool, describeState, struct, u16, u32, u8, u8Array } from "../src/state/description.js";

const properties = {
  ...nicProperties,
  bootindex: bootindexProperty,
};

const REGISTERS_SIZE = 0x100;

// Registers with state here (RTL8139C+ datasheet names).
const IDR0 = 0x00;
const MAR0 = 0x08;
const COMMAND = 0x37;
const CFG9346 = 0x50;

const CMD_RESET = 0x10;
const CMD_RX_BUFFER_EMPTY = 0x01;
/** ChipCmd bits a write leaves alone. */
const CMD_KEPT = 0xe3;
/** Cfg9346 bits a write leaves alone (EEDO and two reserved bits). */
const CFG9346_KEPT = 0x31;
const CFG9346_MODE = 0xc0;
const CFG9346_MODE_AUTOLOAD = 0x40;
const CFG9346_MODE_PROGRAM = 0x80;
const EE_CS = 0x08;
const EE_SK = 0x04;
const EE_DI = 0x02;
const EE_DO = 0x01;

/**
 * The other registers as QEMU 7.2 reads them after reset, by access width: bytes (TSD0-3 "host
 * owns", TCR's version byte, CONFIG1 "I/O and memory mapped", MSR, CONFIG3, ..., the revision
 * mirror), and the words and dwords whose value differs from their bytes read one by one
 * (CAPR reads 0x10 below the empty ring's pointer; TSAD, the MII registers and CSCR answer
 * only 16-bit reads; the whole TCR only 32-bit ones). Everything else reads 0.
 */
// prettier-ignore
const RESET_BYTES = new Map([
  [0x11, 0x20], [0x15, 0x20], [0x19, 0x20], [0x1d, 0x20], [0x43, 0x74], [0x52, 0x0c], [0x58, 0xd0],
  [0x59, 0x01], [0x5b, 0x01], [0x5e, 0x20],
]);
// prettier-ignore
const RESET_WORDS = new Map([
  [0x38, 0xfff0], [0x60, 0x000f], [0x62, 0x1000], [0x64, 0x782d], [0x66, 0x05e1], [0x68, 0x05e1],
  [0x6a, 0x0001], [0x74, 0x0340],
]);
const RESET_DWORDS = new Map([[0x40, 0x74800000]]);

/** The 93C46 serial EEPROM (64 words) behind Cfg9346: words 0-2 identify the chip, 7-9 hold the MAC. */
const EEPROM_WORDS = 64;
const Eeprom = { Idle: 0, AwaitingStart: 1, Command: 2, Reading: 3 } as const;

/** The registers with state, and the serial EEPROM's interface (its words come from the MAC at plug). */
interface Rtl8139Registers {
  readonly phys: Uint8Array;
  readonly mult: Uint8Array;
  command: number;
  cfg9346: number;
  readonly eeprom: {
    readonly contents: Uint16Array;
    mode: number;
    tick: number;
    input: number;
    output: number;
    cs: boolean;
    sk: boolean;
    di: boolean;
    out: boolean;
  };
}

const RTL8139_STATE = describeState<Rtl8139Registers>({
  name: "rtl8139",
  version: 1,
  fields: [
    u8Array("phys"),
    u8Array("mult"),
    u8("command"),
    u8("cfg9346"),
    struct("eeprom", [u8("mode"), u32("tick"), u16("input"), u16("output"), bool("cs"), bool("sk"), bool("di"), bool("out")]),
  ],
});

/**
 * Realtek RTL8139C+ Fast Ethernet controller (QEMU's "rtl8139", 10ec:8139 rev 0x20): 256
 * registers in I/O BAR 0 ("rtl8139") and again in memory BAR 1 ("rtl8139-mem", an alias of the
 * same registers). Config space carries QEMU's oddity: a capability pointer of 0xdc with the
 * status register's capability bit clear and nothing at 0xdc.
 * Modelled: IDR0-5 (the MAC, restored by every chip reset), MAR0-7, ChipCmd (reset, enables),
 * Cfg9346 with the serial EEPROM a driver reads the MAC from, and the reset values of the rest.
 * Not emulated: frames (nothing is sent or received, the receive ring stays empty), and writes to
 * the other registers (they keep their reset values).
 */
@pciDriver({
  name: "rtl8139",
  description: "Realtek RTL8139C+ Fast Ethernet",
  category: "network",
  properties,
  romfile: "efi-rtl8139.rom",
})
export class Rtl8139 extends PciDevice {
  private readonly state: Rtl8139Registers = {
    phys: new Uint8Array(6),
    mult: new Uint8Array(8),
    command: 0,
    cfg9346: 0,
    eeprom: {
      contents: new Uint16Array(EEPROM_WORDS),
      mode: Eeprom.Idle,
      tick: 0,
      input: 0,
      output: 0,
      cs: false,
      sk: false,
      di: false,
      out: false,
    },
  };
  private readonly mac: NicMac;

  constructor(@inject(DEVICE_PROPS) settings: DeviceProps<typeof properties>, @inject(MAC_ADDRESSES) macs: MacAddresses) {
    super({ vendorId: 0x10ec, deviceId: 0x8139, classCode: 0x0200, revision: 0x20, interruptPin: 1 }, settings);
    // QEMU points at a capability list it never builds (and leaves the status bit clear).
    this.config.set8(PCI_CAPABILITY_LIST, 0xdc);
    const ops = {
      read: (offset: number, size: number) => this.read(offset, size),
      write: (offset: number, size: number, value: number) => this.write(offset, size, value),
    };
    this.defineBar(0, { kind: "io", size: REGISTERS_SIZE, name: "rtl8139", ops });
    this.defineBar(1, { kind: "mem32", size: REGISTERS_SIZE, name: "rtl8139-mem", ops });
    this.mac = new NicMac(macs, settings);
    this.function.keepState(RTL8139_STATE, this.state);
  }

  /** The MAC address the NIC was given (QEMU's conf.macaddr). */
  get macAddress(): string {
    return this.mac.toString();
  }

  /** QEMU picks the default MAC and fills the EEPROM at realize. */
  override plugged(): void {
    const mac = this.mac.claim();
    const e = this.state.eeprom.contents;
    e.set([0x8129, 0x10ec, 0x8139]);
    for (let i = 0; i < 3; i++) e[7 + i] = mac[2 * i]! | (mac[2 * i + 1]! << 8);
  }

  override unplugging(): void {
    this.mac.release();
  }

  /** The chip reset (power-on, system reset, ChipCmd.RST, Cfg9346 autoload): MAR and the EEPROM survive. */
  protected override resetRegisters(): void {
    this.state.phys.set(this.mac.bytes);
    this.state.command = CMD_RESET;
  }

  private read(offset: number, size: number): number {
    if (size === 2) return RESET_WORDS.get(offset) ?? this.readByte(offset) | (this.readByte(offset + 1) << 8);
    if (size === 4) {
      const fixed = RESET_DWORDS.get(offset);
      if (fixed !== undefined) return fixed;
      let value = 0;
      for (let i = 3; i >= 0; i--) value = (value << 8) | this.readByte(offset + i);
      return value >>> 0;
    }
    return this.readByte(offset);
  }

  private readByte(offset: number): number {
    if (offset < IDR0 + 6) return this.state.phys[offset]!;
    if (offset >= MAR0 && offset < MAR0 + 8) return this.state.mult[offset - MAR0]!;
    if (offset === COMMAND) return this.state.command | CMD_RX_BUFFER_EMPTY;
    if (offset === CFG9346) return this.readCfg9346();
    return RESET_BYTES.get(offset) ?? 0;
  }

  /** QEMU splits wider writes to these registers into bytes; writes elsewhere are not modelled. */
  private write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  private writeByte(offset: number, value: number): void {
    if (offset < IDR0 + 6) this.state.phys[offset] = value;
    else if (offset >= MAR0 && offset < MAR0 + 8) this.state.mult[offset - MAR0] = value;
    else if (offset === COMMAND) this.writeCommand(value);
    else if (offset === CFG9346) this.writeCfg9346(value);
  }

  /** RST resets the chip and reads back clear; RE and TE stick. */
  private writeCommand(value: number): void {
    if (value & CMD_RESET) this.resetRegisters();
    this.state.command = ((value & ~CMD_KEPT) | (this.state.command & CMD_KEPT)) & ~CMD_RESET;
  }

  private readCfg9346(): number {
    let value = this.state.cfg9346;
    if ((value & CFG9346_MODE) === CFG9346_MODE_PROGRAM)
      value = (value & ~EE_DO) | (this.state.eeprom.cs && this.state.eeprom.out ? EE_DO : 0);
    return value;
  }

  /** Program mode drives the EEPROM's CS, SK and DI pins; autoload mode resets the chip. */
  private writeCfg9346(value: number): void {
    value = (value & ~CFG9346_KEPT) | (this.state.cfg9346 & CFG9346_KEPT);
    const mode = value & CFG9346_MODE;
    if (mode === CFG9346_MODE_PROGRAM) {
      this.setEepromPins((value & EE_CS) !== 0, (value & EE_SK) !== 0, (value & EE_DI) !== 0);
    } else if (mode === CFG9346_MODE_AUTOLOAD) {
      value = 0;
      this.resetRegisters();
    }
    this.state.cfg9346 = value;
  }

  private setEepromPins(cs: boolean, sk: boolean, di: boolean): void {
    const e = this.state.eeprom;
    const rising = !e.sk && sk;
    if (!e.cs && cs) {
      e.tick = 0;
      e.input = 0;
      e.output = 0;
      e.mode = Eeprom.AwaitingStart;
    }
    e.cs = cs;
    e.sk = sk;
    e.di = di;
    if (cs && rising) this.eepromClock();
  }

  /** One SK rising edge: a start bit, then 8 command bits (10AAAAAA reads word A), then 16 data bits out. */
  private eepromClock(): void {
    const e = this.state.eeprom;
    const bit = e.di ? 1 : 0;
    e.tick++;
    switch (e.mode) {
      case Eeprom.AwaitingStart:
        if (bit) {
          e.mode = Eeprom.Command;
          e.tick = 0;
          e.input = 0;
        }
        break;
      case Eeprom.Command:
        e.input = ((e.input << 1) | bit) & 0xffff;
        if (e.tick === 8) this.eepromCommand(e.input & 0xff);
        break;
      case Eeprom.Reading:
        e.out = (e.output & 0x8000) !== 0;
        e.output = (e.output << 1) & 0xffff;
        if (e.tick === 16) {
          // FreeBSD's drivers do not toggle CS between reads: wait for the next command.
          e.mode = Eeprom.AwaitingStart;
          e.input = 0;
          e.tick = 0;
        }
        break;
    }
  }

  /** Only reads do anything: QEMU's EEPROM ignores write, erase and write-enable commands. */
  private eepromCommand(command: number): void {
    const e = this.state.eeprom;
    if ((command & 0xc0) === 0x80) {
      e.output = e.contents[command & (EEPROM_WORDS - 1)]!;
      e.out = false;
      e.tick = 0;
      e.mode = Eeprom.Reading;
    } else {
      if ((command & 0xc0) === 0x40) {
        e.input = 0;
        e.tick = 0;
      }
      e.mode = Eeprom.Idle;
    }
  }
}
