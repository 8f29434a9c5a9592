import { inject } from "tsyringe";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS } from "../src/machine/tokens.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import { describeState, u16, u16Array, u32 } from "../src/state/description.js";

const properties = {
  bandwidth: prop(types.uint32, 1280, "bytes of USB traffic per frame (no effect: no frames run)"),
  maxframes: prop(types.uint32, 128, "frames to process at once when catching up (no effect: no frames run)"),
};

/** Serial bus release number: USB 1.0. */
const USB_SBRN = 0x60;
const USB_RELEASE_1 = 0x10;
/** Where QEMU keeps the USB clock enable (1 after every controller reset). */
const USB_CLOCK = 0x6a;

const IO_SIZE = 0x20;
const NB_PORTS = 2;

const CMD_RS = 0x01;
const CMD_HCRESET = 0x02;
const CMD_GRESET = 0x04;
const STS_HCHALTED = 0x20;
const PORT_ENABLE = 0x0004;
const PORT_CONNECTED = 0x0001;
/** Bits a PORTSC write cannot change (bit 7 always reads 1), and the write-1-to-clear change bits. */
const PORT_READ_ONLY = 0x01bb;
const PORT_WRITE_CLEAR = 0x000a;
const PORT_RESET_VALUE = 0x0080;
/** What QEMU answers where no register is (a disabled port's PORTSC). */
const NO_REGISTER = 0xff7f;
/** USBCMD, USBSTS, USBINTR, FRNUM, FLBASEADD, SOFMOD and PORTSC1-2. */
interface UhciRegisters {
  cmd: number;
  status: number;
  intr: number;
  /** Not reset by a controller reset, as in QEMU. */
  frnum: number;
  frameListBase: number;
  sofTiming: number;
  readonly ports: Uint16Array;
}

const UHCI_STATE = describeState<UhciRegisters>({
  name: "uhci",
  version: 1,
  fields: [u16("cmd"), u16("status"), u16("intr"), u16("frnum"), u16("sofTiming"), u16Array("ports"), u32("frameListBase")],
});

/**
 * Intel 82371SB PIIX3 USB host controller, UHCI (QEMU's "piix3-usb-uhci", 8086:7020 rev 1, INTD):
 * the UHCI registers in I/O BAR 4 ("uhci", 32 ports, handled 16 bits at a time: a byte access
 * reads or writes the 16-bit register at its own offset), USB release number 0x10 at 0x60 and the
 * clock-enable byte 0x6a = 1, which every controller reset restores.
 * Modelled: register reset values and writes (run/stop and the halted bit, resets, frame list
 * base, PORTSC bits). Not emulated: USB itself (no devices are attached, no frames run, so the
 * frame number stands still and no interrupt is ever raised).
 */
@pciDriver({
  name: "piix3-usb-uhci",
  description: "Intel 82371SB PIIX3 USB UHCI controller",
  category: "usb",
  properties,
  parents: ["pci-uhci-usb"],
  buses: [{ type: "usb-bus" }], // its root hub's bus: no USB device is modelled
})
export class Piix3UsbUhci extends PciDevice {
  private readonly regs: UhciRegisters = {
    cmd: 0,
    status: 0,
    intr: 0,
    frnum: 0,
    frameListBase: 0,
    sofTiming: 0,
    ports: new Uint16Array(NB_PORTS),
  };

  constructor(@inject(DEVICE_PROPS) props: DeviceProps<typeof properties>) {
    super({ vendorId: 0x8086, deviceId: 0x7020, classCode: 0x0c03, revision: 0x01, interruptPin: 4 }, props);
    this.config.set8(USB_SBRN, USB_RELEASE_1);
    this.defineBar(4, {
      kind: "io",
      size: IO_SIZE,
      name: "uhci",
      ops: { read: (offset) => this.read(offset), write: (offset, _size, value) => this.write(offset, value) },
      regionOptions: { implMin: 2, implMax: 2, owner: "piix3-usb-uhci" },
    });
    this.function.keepState(UHCI_STATE, this.regs);
  }

  protected override resetRegisters(): void {
    this.config.set8(USB_CLOCK, 0x01);
    this.config.set8(USB_CLOCK + 1, 0x00);
    this.regs.cmd = 0;
    this.regs.status = STS_HCHALTED;
    this.regs.intr = 0;
    this.regs.frameListBase = 0;
    this.regs.sofTiming = 64;
    this.regs.ports.fill(PORT_RESET_VALUE);
  }

  private read(offset: number): number {
    switch (offset) {
      case 0x00:
        return this.regs.cmd;
      case 0x02:
        return this.regs.status;
      case 0x04:
        return this.regs.intr;
      case 0x06:
        return this.regs.frnum;
      case 0x08:
        return this.regs.frameListBase & 0xffff;
      case 0x0a:
        return this.regs.frameListBase >>> 16;
      case 0x0c:
        return this.regs.sofTiming;
    }
    const port = (offset >> 1) & 7;
    return offset >= 0x10 && port < NB_PORTS ? this.regs.ports[port]! : NO_REGISTER;
  }

  private write(offset: number, value: number): void {
    switch (offset) {
      case 0x00:
        return this.writeCommand(value);
      case 0x02:
        this.regs.status &= ~value;
        return;
      case 0x04:
        this.regs.intr = value;
        return;
      case 0x06:
        if (this.regs.status & STS_HCHALTED) this.regs.frnum = value & 0x7ff;
        return;
      case 0x08:
        this.regs.frameListBase = ((this.regs.frameListBase & 0xffff0000) | (value & ~0xfff & 0xffff)) >>> 0;
        return;
      case 0x0a:
        this.regs.frameListBase = ((this.regs.frameListBase & 0xffff) | (value << 16)) >>> 0;
        return;
      case 0x0c:
        this.regs.sofTiming = value & 0xff;
        return;
    }
    const port = (offset >> 1) & 7;
    if (offset < 0x10 || port >= NB_PORTS) return;
    let ctrl = this.regs.ports[port]! & PORT_READ_ONLY;
    if (!(ctrl & PORT_CONNECTED)) value &= ~PORT_ENABLE; // only a connected port can be enabled
    ctrl |= value & ~PORT_READ_ONLY;
    this.regs.ports[port] = ctrl & ~(value & PORT_WRITE_CLEAR);
  }

  /** Setting RS starts the schedule (the controller leaves the halted state); the reset bits reset it. */
  private writeCommand(value: number): void {
    if (value & CMD_RS && !(this.regs.cmd & CMD_RS)) this.regs.status &= ~STS_HCHALTED;
    else if (!(value & CMD_RS)) this.regs.status |= STS_HCHALTED;
    if (value & (CMD_GRESET | CMD_HCRESET)) {
      this.resetRegisters();
      return;
    }
    this.regs.cmd = value;
  }
}
