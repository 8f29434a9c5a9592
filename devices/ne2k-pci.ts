import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { NicMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { bootindexProperty } from "../src/machine/properties.js";
import { DEVICE_PROPS, MAC_ADDRESSES } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, u16, u32, u8, u8Array } from "../src/state/description.js";

const properties = {
  ...nicProperties,
  bootindex: bootindexProperty,
};

const IO_SIZE = 0x100;
const DATA_PORT = 0x10;
const RESET_PORT = 0x1f;

/** NIC memory: the 32-byte station address PROM at 0, packet RAM at 16-48 KiB; the rest reads 0xff. */
const PROM_SIZE = 32;
const PACKET_RAM_START = 16 * 1024;
const MEMORY_SIZE = 48 * 1024;

// Command register (all pages) and its bits.
const CR = 0x00;
const CR_STOP = 0x01;
const CR_TRANSMIT = 0x04;
const CR_REMOTE_READ = 0x08;
const CR_REMOTE_WRITE = 0x10;

// ISR bits.
const ISR_TX = 0x02;
const ISR_RDC = 0x40;
const ISR_RESET = 0x80;
const TSR_PTX = 0x01;
const DCR_WORD_TRANSFER = 0x01;

/** The DP8390's registers, PAR, MAR and the NIC memory. */
interface Ne2kRegisters {
  readonly memory: Uint8Array;
  readonly phys: Uint8Array;
  readonly mult: Uint8Array;
  cmd: number;
  start: number;
  stop: number;
  boundary: number;
  tsr: number;
  tpsr: number;
  tcnt: number;
  rcnt: number;
  /** Remote DMA address: 32 bits wide in QEMU, so it runs on past 0xffff. */
  rsar: number;
  rsr: number;
  isr: number;
  dcfg: number;
  imr: number;
  rxcr: number;
  curpag: number;
}

const NE2K_STATE = describeState<Ne2kRegisters>({
  name: "ne2000",
  version: 1,
  fields: [
    u8("cmd"),
    u32("start"),
    u32("stop"),
    u8("boundary"),
    u8("tsr"),
    u8("tpsr"),
    u16("tcnt"),
    u16("rcnt"),
    u32("rsar"),
    u8("rsr"),
    u8("isr"),
    u8("dcfg"),
    u8("imr"),
    u8("rxcr"),
    u8("curpag"),
    u8Array("phys"),
    u8Array("mult"),
    u8Array("memory"),
  ],
});

/**
 * Realtek RTL8029 NE2000-compatible Ethernet controller (QEMU's "ne2k_pci", 10ec:8029): the
 * DP8390 register pages at ports 0-15 of I/O BAR 0 ("ne2000", 256 ports), the remote DMA data
 * port at 0x10, the reset port at 0x1f. The MAC is in the address PROM (NIC memory 0-31, each
 * byte twice, then 'W' 'W'), which drivers read by remote DMA; PAR0-5 (page 1) start at 0.
 * Modelled: every register, remote DMA to and from the 48 KiB NIC memory, INTx.
 * Not emulated: frames (a transmit completes at once and goes nowhere; nothing is received).
 * As in QEMU, a system reset leaves the chip alone: only the reset port resets it.
 */
@pciDriver({
  name: "ne2k_pci",
  description: "Realtek RTL8029 (NE2000) Ethernet",
  category: "network",
  properties,
  romfile: "efi-ne2k_pci.rom",
})
export class Ne2kPci extends PciDevice {
  private readonly state: Ne2kRegisters = {
    memory: new Uint8Array(MEMORY_SIZE),
    phys: new Uint8Array(6),
    mult: new Uint8Array(8),
    cmd: 0,
    start: 0,
    stop: 0,
    boundary: 0,
    tsr: 0,
    tpsr: 0,
    tcnt: 0,
    rcnt: 0,
    rsar: 0,
    rsr: 0,
    isr: 0,
    dcfg: 0,
    imr: 0,
    rxcr: 0,
    curpag: 0,
  };
  private readonly mac: NicMac;

  constructor(@inject(DEVICE_PROPS) settings: DeviceProps<typeof properties>, @inject(MAC_ADDRESSES) macs: MacAddresses) {
    super({ vendorId: 0x10ec, deviceId: 0x8029, classCode: 0x0200, interruptPin: 1 }, settings);
    this.defineBar(0, {
      kind: "io",
      size: IO_SIZE,
      name: "ne2000",
      ops: { read: (offset, size) => this.read(offset, size), write: (offset, size, value) => this.write(offset, size, value) },
    });
    this.mac = new NicMac(macs, settings);
    this.function.keepState(NE2K_STATE, this.state);
  }

  /** The MAC address the NIC was given (QEMU's conf.macaddr). */
  get macAddress(): string {
    return this.mac.toString();
  }

  /** QEMU picks the default MAC and resets the chip (filling the PROM) at realize. */
  override plugged(): void {
    this.mac.claim();
    this.chipReset();
  }

  override unplugging(): void {
    this.mac.release();
  }

  /** What reading the reset port does: reset status, and the PROM rebuilt from the MAC. */
  private chipReset(): void {
    this.state.isr = ISR_RESET;
    const prom = [...this.mac.bytes, 0, 0, 0, 0, 0, 0, 0, 0, 0x57, 0x57];
    for (let i = 0; i < 16; i++) this.state.memory[2 * i] = this.state.memory[2 * i + 1] = prom[i]!;
  }

  private updateIrq(): void {
    this.setIrq((this.state.isr & this.state.imr & 0x7f) !== 0);
  }

  /** Byte registers at 0-15, the data port at any width, the reset port by byte; all else reads all ones. */
  private read(offset: number, size: number): number {
    if (offset < DATA_PORT && size === 1) return this.readRegister(offset);
    if (offset === DATA_PORT) return this.readData(size);
    if (offset === RESET_PORT && size === 1) {
      this.chipReset();
      return 0;
    }
    return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
  }

  private write(offset: number, size: number, value: number): void {
    if (offset < DATA_PORT && size === 1) this.writeRegister(offset, value);
    else if (offset === DATA_PORT) this.writeData(size, value);
    // Writing the reset port ends the reset pulse: nothing to do.
  }

  private readRegister(offset: number): number {
    if (offset === CR) return this.state.cmd;
    switch (offset | ((this.state.cmd >> 6) << 4)) {
      case 0x03:
        return this.state.boundary;
      case 0x04:
        return this.state.tsr;
      case 0x07:
        return this.state.isr;
      case 0x08:
        return this.state.rsar & 0xff;
      case 0x09:
        return (this.state.rsar >>> 8) & 0xff;
      case 0x0a:
        return 0x50; // RTL8029 id 'P'
      case 0x0b:
        return 0x43; // RTL8029 id 'C'
      case 0x0c:
        return this.state.rsr;
      case 0x11:
      case 0x12:
      case 0x13:
      case 0x14:
      case 0x15:
      case 0x16:
        return this.state.phys[offset - 1]!;
      case 0x17:
        return this.state.curpag;
      case 0x18:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0x1c:
      case 0x1d:
      case 0x1e:
      case 0x1f:
        return this.state.mult[offset - 8]!;
      case 0x21:
        return (this.state.start >> 8) & 0xff;
      case 0x22:
        return (this.state.stop >> 8) & 0xff;
      case 0x35:
        return 0x40; // CONFIG2: 10BASE-T link active
      case 0x36:
        return 0x40; // CONFIG3: full duplex
      default:
        return 0;
    }
  }

  private writeRegister(offset: number, value: number): void {
    if (offset === CR) return this.writeCommand(value);
    switch (offset | ((this.state.cmd >> 6) << 4)) {
      case 0x01:
        this.state.start = value << 8;
        break;
      case 0x02:
        this.state.stop = value << 8;
        break;
      case 0x03:
        this.state.boundary = value;
        break;
      case 0x04:
        this.state.tpsr = value;
        break;
      case 0x05:
        this.state.tcnt = (this.state.tcnt & 0xff00) | value;
        break;
      case 0x06:
        this.state.tcnt = (this.state.tcnt & 0x00ff) | (value << 8);
        break;
      case 0x07:
        this.state.isr &= ~(value & 0x7f);
        this.updateIrq();
        break;
      case 0x08:
        this.state.rsar = (this.state.rsar & 0xff00) | value;
        break;
      case 0x09:
        this.state.rsar = (this.state.rsar & 0x00ff) | (value << 8);
        break;
      case 0x0a:
        this.state.rcnt = (this.state.rcnt & 0xff00) | value;
        break;
      case 0x0b:
        this.state.rcnt = (this.state.rcnt & 0x00ff) | (value << 8);
        break;
      case 0x0c:
        this.state.rxcr = value;
        break;
      case 0x0e:
        this.state.dcfg = value;
        break;
      case 0x0f:
        this.state.imr = value;
        this.updateIrq();
        break;
      case 0x11:
      case 0x12:
      case 0x13:
      case 0x14:
      case 0x15:
      case 0x16:
        this.state.phys[offset - 1] = value;
        break;
      case 0x17:
        this.state.curpag = value;
        break;
      case 0x18:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0x1c:
      case 0x1d:
      case 0x1e:
      case 0x1f:
        this.state.mult[offset - 8] = value;
        break;
    }
  }

  /** Without STOP the chip leaves reset; a zero-length remote DMA completes at once, a transmit too. */
  private writeCommand(value: number): void {
    this.state.cmd = value;
    if (value & CR_STOP) return;
    this.state.isr &= ~ISR_RESET;
    if (value & (CR_REMOTE_READ | CR_REMOTE_WRITE) && this.state.rcnt === 0) {
      this.state.isr |= ISR_RDC;
      this.updateIrq();
    }
    if (value & CR_TRANSMIT) {
      this.state.tsr = TSR_PTX;
      this.state.isr |= ISR_TX;
      this.state.cmd &= ~CR_TRANSMIT;
      this.updateIrq();
    }
  }

  /** Remote DMA through the data port: 16-bit words if DCR.WTS is set, else bytes; 32 bits by dword. */
  private readData(size: number): number {
    const width = size === 4 ? 4 : this.state.dcfg & DCR_WORD_TRANSFER ? 2 : 1;
    const addr = width === 1 ? this.state.rsar : this.state.rsar & ~1;
    let value: number;
    if (addr < PROM_SIZE || (addr >= PACKET_RAM_START && addr < MEMORY_SIZE)) {
      value = 0;
      for (let i = width - 1; i >= 0; i--) value = (value << 8) | (this.state.memory[addr + i] ?? 0);
    } else {
      value = width === 4 ? 0xffffffff : (1 << (width * 8)) - 1;
    }
    this.dmaAdvance(width);
    return value >>> 0;
  }

  private writeData(size: number, value: number): void {
    if (this.state.rcnt === 0) return;
    const width = size === 4 ? 4 : this.state.dcfg & DCR_WORD_TRANSFER ? 2 : 1;
    const addr = width === 1 ? this.state.rsar : this.state.rsar & ~1;
    if (addr < PROM_SIZE || (addr >= PACKET_RAM_START && addr < MEMORY_SIZE)) {
      for (let i = 0; i < width && addr + i < MEMORY_SIZE; i++) this.state.memory[addr + i] = (value >>> (8 * i)) & 0xff;
    }
    this.dmaAdvance(width);
  }

  /** INTx follows the loaded ISR and IMR. */
  override stateLoaded(): void {
    this.updateIrq();
  }

  private dmaAdvance(length: number): void {
    this.state.rsar = (this.state.rsar + length) >>> 0;
    if (this.state.rsar === this.state.stop) this.state.rsar = this.state.start;
    if (this.state.rcnt <= length) {
      this.state.rcnt = 0;
      this.state.isr |= ISR_RDC;
      this.updateIrq();
    } else {
      this.state.rcnt -= length;
    }
  }
}
