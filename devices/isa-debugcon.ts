import { inject } from "tsyringe";
import type { EventEmitter } from "eventemitter3";
import { MachbusError } from "../src/errors.js";
import type { MachineEvents } from "../src/events.js";
import { IsaDevice, type IsaDeviceProps } from "../src/isa/device.js";
import { Region, type AddressSpace } from "../src/memory/address-space.js";
import { isaDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, EVENTS, IO_SPACE } from "../src/machine/tokens.js";

const properties = {
  iobase: prop(types.uint32, 0xe9, "I/O port of the console (SeaBIOS logs to 0x402)"),
  chardev: prop(types.str, "", "ID of a chardev to use as a backend (accepted; the bytes go to the 'debugcon' event and the sink)"),
  readback: prop(types.uint32, 0xe9, "value a read of the port returns: how firmware detects the console"),
};

/**
 * QEMU's isa-debugcon: one write-only byte port (the Bochs "port 0xe9 hack"). Every byte written
 * goes to the machine's "debugcon" event and to `sink`; a read returns `readback`.
 */
@isaDriver({ name: "isa-debugcon", description: "ISA debug console", category: "misc", properties })
export class IsaDebugcon extends IsaDevice {
  /** Where written bytes go besides the event (the embedder's terminal or log). */
  sink: ((byte: number) => void) | null = null;
  readonly iobase: number;

  // Byte accesses only, as on QEMU: of an outw only the low byte reaches the console, the next
  // byte goes to port iobase+1 (checked on QEMU 7.2: outw 0x4241 prints "A", inw reads 0xffe9).
  private readonly region = new Region(
    "isa-debugcon",
    1,
    {
      read: () => this.readback,
      write: (_offset, _size, value) => {
        this.events.emit("debugcon", { iobase: this.iobase, byte: value });
        this.sink?.(value);
      },
    },
    { maxAccess: 1, owner: "isa-debugcon" },
  );
  private readonly readback: number;

  constructor(
    @inject(DEVICE_PROPS) props: IsaDeviceProps<typeof properties>,
    @inject(EVENTS) private readonly events: EventEmitter<MachineEvents>,
    @inject(IO_SPACE) private readonly io: AddressSpace,
  ) {
    super(props);
    if (props.iobase > 0xffff) {
      throw new MachbusError(
        "bad-property-value",
        `isa-debugcon: iobase 0x${props.iobase.toString(16)} is outside the I/O space (0-0xffff)`,
      );
    }
    this.iobase = props.iobase;
    this.readback = props.readback & 0xff;
  }

  plugged(): void {
    this.io.map(this.region, this.iobase);
  }

  unplugging(): void {
    this.io.unmap(this.region);
  }
}
