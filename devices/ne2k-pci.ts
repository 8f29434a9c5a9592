import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { formatMac, nicProperties, type MacAddresses } from "../src/machine/mac-addresses.js";
import { bootindexProperty } from "../src/machine/properties.js";
import { DEVICE_PROPS, MAC_ADDRESSES } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { fixedLayoutCheck } from "../src/state/state-part.js";

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

/** Snapshot layout: the registers (big-endian), PAR, MAR, then the NIC memory. */
const STATE_REGISTERS = 28;
const STATE_BYTES = STATE_REGISTERS + 6 + 8 + MEMORY_SIZE;

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
  private readonly memory = new Uint8Array(MEMORY_SIZE);
  private readonly phys = new Uint8Array(6);
  private readonly mult = new Uint8Array(8);
  private cmd = 0;
  private start = 0;
  private stop = 0;
  private boundary = 0;
  private tsr = 0;
  private tpsr = 0;
  private tcnt = 0;
  private rcnt = 0;
  /** Remote DMA address: 32 bits wide in QEMU, so it runs on past 0xffff. */
  private rsar = 0;
  private rsr = 0;
  private isr = 0;
  private dcfg = 0;
  private imr = 0;
  private rxcr = 0;
  private curpag = 0;
  private mac: number[] = [];

  constructor(
    @inject(DEVICE_PROPS) private readonly settings: DeviceProps<typeof properties>,
    @inject(MAC_ADDRESSES) private readonly macs: MacAddresses,
  ) {
    super({ vendorId: 0x10ec, deviceId: 0x8029, classCode: 0x0200, interruptPin: 1 }, settings);
    this.defineBar(0, {
      kind: "io",
      size: IO_SIZE,
      name: "ne2000",
      ops: { read: (offset, size) => this.read(offset, size), write: (offset, size, value) => this.write(offset, size, value) },
    });
    this.function.stateParts.push({
      name: "ne2000",
      version: 1,
      save: () => this.saveState(),
      check: fixedLayoutCheck("ne2000", STATE_BYTES),
      load: (bytes) => this.loadState(bytes),
    });
  }

  /** The MAC address the NIC was given (QEMU's conf.macaddr). */
  get macAddress(): string {
    return formatMac(this.mac);
  }

  /** QEMU picks the default MAC and resets the chip (filling the PROM) at realize. */
  override plugged(): void {
    this.mac = this.macs.claimFor(this.settings);
    this.chipReset();
  }

  override unplugging(): void {
    this.macs.release(this.mac);
  }

  /** What reading the reset port does: reset status, and the PROM rebuilt from the MAC. */
  private chipReset(): void {
    this.isr = ISR_RESET;
    const prom = [...this.mac, 0, 0, 0, 0, 0, 0, 0, 0, 0x57, 0x57];
    for (let i = 0; i < 16; i++) this.memory[2 * i] = this.memory[2 * i + 1] = prom[i]!;
  }

  private updateIrq(): void {
    this.setIrq((this.isr & this.imr & 0x7f) !== 0);
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
    if (offset === CR) return this.cmd;
    switch (offset | ((this.cmd >> 6) << 4)) {
      case 0x03:
        return this.boundary;
      case 0x04:
        return this.tsr;
      case 0x07:
        return this.isr;
      case 0x08:
        return this.rsar & 0xff;
      case 0x09:
        return (this.rsar >>> 8) & 0xff;
      case 0x0a:
        return 0x50; // RTL8029 id 'P'
      case 0x0b:
        return 0x43; // RTL8029 id 'C'
      case 0x0c:
        return this.rsr;
      case 0x11:
      case 0x12:
      case 0x13:
      case 0x14:
      case 0x15:
      case 0x16:
        return this.phys[offset - 1]!;
      case 0x17:
        return this.curpag;
      case 0x18:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0x1c:
      case 0x1d:
      case 0x1e:
      case 0x1f:
        return this.mult[offset - 8]!;
      case 0x21:
        return (this.start >> 8) & 0xff;
      case 0x22:
        return (this.stop >> 8) & 0xff;
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
    switch (offset | ((this.cmd >> 6) << 4)) {
      case 0x01:
        this.start = value << 8;
        break;
      case 0x02:
        this.stop = value << 8;
        break;
      case 0x03:
        this.boundary = value;
        break;
      case 0x04:
        this.tpsr = value;
        break;
      case 0x05:
        this.tcnt = (this.tcnt & 0xff00) | value;
        break;
      case 0x06:
        this.tcnt = (this.tcnt & 0x00ff) | (value << 8);
        break;
      case 0x07:
        this.isr &= ~(value & 0x7f);
        this.updateIrq();
        break;
      case 0x08:
        this.rsar = (this.rsar & 0xff00) | value;
        break;
      case 0x09:
        this.rsar = (this.rsar & 0x00ff) | (value << 8);
        break;
      case 0x0a:
        this.rcnt = (this.rcnt & 0xff00) | value;
        break;
      case 0x0b:
        this.rcnt = (this.rcnt & 0x00ff) | (value << 8);
        break;
      case 0x0c:
        this.rxcr = value;
        break;
      case 0x0e:
        this.dcfg = value;
        break;
      case 0x0f:
        this.imr = value;
        this.updateIrq();
        break;
      case 0x11:
      case 0x12:
      case 0x13:
      case 0x14:
      case 0x15:
      case 0x16:
        this.phys[offset - 1] = value;
        break;
      case 0x17:
        this.curpag = value;
        break;
      case 0x18:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0x1c:
      case 0x1d:
      case 0x1e:
      case 0x1f:
        this.mult[offset - 8] = value;
        break;
    }
  }

  /** Without STOP the chip leaves reset; a zero-length remote DMA completes at once, a transmit too. */
  private writeCommand(value: number): void {
    this.cmd = value;
    if (value & CR_STOP) return;
    this.isr &= ~ISR_RESET;
    if (value & (CR_REMOTE_READ | CR_REMOTE_WRITE) && this.rcnt === 0) {
      this.isr |= ISR_RDC;
      this.updateIrq();
    }
    if (value & CR_TRANSMIT) {
      this.tsr = TSR_PTX;
      this.isr |= ISR_TX;
      this.cmd &= ~CR_TRANSMIT;
      this.updateIrq();
    }
  }

  /** Remote DMA through the data port: 16-bit words if DCR.WTS is set, else bytes; 32 bits by dword. */
  private readData(size: number): number {
    const width = size === 4 ? 4 : this.dcfg & DCR_WORD_TRANSFER ? 2 : 1;
    const addr = width === 1 ? this.rsar : this.rsar & ~1;
    let value: number;
    if (addr < PROM_SIZE || (addr >= PACKET_RAM_START && addr < MEMORY_SIZE)) {
      value = 0;
      for (let i = width - 1; i >= 0; i--) value = (value << 8) | (this.memory[addr + i] ?? 0);
    } else {
      value = width === 4 ? 0xffffffff : (1 << (width * 8)) - 1;
    }
    this.dmaAdvance(width);
    return value >>> 0;
  }

  private writeData(size: number, value: number): void {
    if (this.rcnt === 0) return;
    const width = size === 4 ? 4 : this.dcfg & DCR_WORD_TRANSFER ? 2 : 1;
    const addr = width === 1 ? this.rsar : this.rsar & ~1;
    if (addr < PROM_SIZE || (addr >= PACKET_RAM_START && addr < MEMORY_SIZE)) {
      for (let i = 0; i < width && addr + i < MEMORY_SIZE; i++) this.memory[addr + i] = (value >>> (8 * i)) & 0xff;
    }
    this.dmaAdvance(width);
  }

  private saveState(): Uint8Array {
    const out = new Uint8Array(STATE_BYTES);
    const v = new DataView(out.buffer);
    v.setUint8(0, this.cmd);
    v.setUint32(1, this.start);
    v.setUint32(5, this.stop);
    v.setUint8(9, this.boundary);
    v.setUint8(10, this.tsr);
    v.setUint8(11, this.tpsr);
    v.setUint16(12, this.tcnt);
    v.setUint16(14, this.rcnt);
    v.setUint32(16, this.rsar);
    v.setUint8(20, this.rsr);
    v.setUint8(21, this.isr);
    v.setUint8(22, this.dcfg);
    v.setUint8(23, this.imr);
    v.setUint8(24, this.rxcr);
    v.setUint8(25, this.curpag);
    out.set(this.phys, STATE_REGISTERS);
    out.set(this.mult, STATE_REGISTERS + 6);
    out.set(this.memory, STATE_REGISTERS + 14);
    return out;
  }

  private loadState(bytes: Uint8Array): void {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.cmd = v.getUint8(0);
    this.start = v.getUint32(1);
    this.stop = v.getUint32(5);
    this.boundary = v.getUint8(9);
    this.tsr = v.getUint8(10);
    this.tpsr = v.getUint8(11);
    this.tcnt = v.getUint16(12);
    this.rcnt = v.getUint16(14);
    this.rsar = v.getUint32(16);
    this.rsr = v.getUint8(20);
    this.isr = v.getUint8(21);
    this.dcfg = v.getUint8(22);
    this.imr = v.getUint8(23);
    this.rxcr = v.getUint8(24);
    this.curpag = v.getUint8(25);
    this.phys.set(bytes.subarray(STATE_REGISTERS, STATE_REGISTERS + 6));
    this.mult.set(bytes.subarray(STATE_REGISTERS + 6, STATE_REGISTERS + 14));
    this.memory.set(bytes.subarray(STATE_REGISTERS + 14));
    this.updateIrq();
  }

  private dmaAdvance(length: number): void {
    this.rsar = (this.rsar + length) >>> 0;
    if (this.rsar === this.stop) this.rsar = this.start;
    if (this.rcnt <= length) {
      this.rcnt = 0;
      this.isr |= ISR_RDC;
      this.updateIrq();
    } else {
      this.rcnt -= length;
    }
  }
}
