import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import { prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import { PCI_CLASS_DEVICE } from "../src/pci/constants.js";
import type { DeviceProps } from "../src/pci/device.js";
import { VECTORS_UNSPECIFIED, VIRTIO_ID_CONSOLE, VIRTIO_QUEUE_MAX, bit, hasBit } from "../src/virtio/constants.js";
import { ioeventfdProperty, readOnlyProperty, virtioDeviceProperties, virtioPciProperties, virtioQtree } from "../src/virtio/properties.js";
import { VirtioPciDevice } from "../src/virtio/transport.js";

const VIRTIO_CONSOLE_F_MULTIPORT = 1;
const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;

/** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr (the last only with EMERG_WRITE). */
const CFG_MAX_NR_PORTS = 4;
const CFG_EMERG_WR = 8;
const CONFIG_SIZE = 12;

const PORT_QUEUE_SIZE = 128;
const CONTROL_QUEUE_SIZE = 32;
/** Two queues per port, and one pair for the control queues. */
const MAX_PORTS = VIRTIO_QUEUE_MAX / 2 - 1;
/** Classes QEMU keeps: communication/other, display/other (QEMU 0.10), other (qemu-kvm). */
const ACCEPTED_CLASSES = [0x0780, 0x0380, 0x00ff];

const properties = {
  ...virtioPciProperties,
  ...virtioDeviceProperties,
  "virtio-backend": readOnlyProperty("child<virtio-serial-device>", "the virtio-serial-device inside the proxy"),
  ioeventfd: ioeventfdProperty,
  vectors: prop(types.uint32, 2, "MSI-X vectors; 4294967295: max_ports + 1; 0: no MSI-X"),
  class: prop(
    types.uint32,
    0,
    "PCI class code: 0x0780 (communication), 0x0380 (display, as QEMU 0.10 had it) or 0x00ff; anything else means 0x0780",
  ),
  max_ports: prop(types.uint32, 31, "ports (1 to 511): config max_nr_ports, two queues each, MULTIPORT above 1"),
  "emergency-write": prop(types.bool, true, "offers VIRTIO_CONSOLE_F_EMERG_WRITE (feature bit 2) and the config emerg_wr field"),
};

/**
 * virtio serial/console device on PCI (QEMU's "virtio-serial-pci", formerly "virtio-console-pci";
 * 1af4:1003, communication controller): port and control queues, max_nr_ports in the device
 * configuration. Registers only: no port carries data.
 */
@pciDriver({
  name: "virtio-serial-pci",
  description: "virtio serial port device on PCI",
  category: "input",
  properties,
  parents: ["virtio-serial-pci-base", "virtio-pci", "virtio-serial-device", "virtio-device", "virtio-console-pci"],
  buses: [{ type: "virtio-serial-bus", below: "virtio-backend" }],
  qtree: virtioQtree(["ioeventfd", "vectors", "class"], "virtio-serial-device", ["max_ports", "emergency-write"]),
})
export class VirtioSerialPci extends VirtioPciDevice {
  private readonly maxPorts: number;

  constructor(@inject(PLUG_BUS) bus: PciBus, @inject(DEVICE_PROPS) props: DeviceProps<typeof properties>) {
    const ports = props.max_ports;
    if (ports === 0) throw new MachbusError("bad-property-value", "Maximum number of serial ports not specified");
    if (ports > MAX_PORTS) throw new MachbusError("bad-property-value", `maximum ports supported: ${MAX_PORTS}`);
    let own = 0n;
    if (props["emergency-write"]) own |= bit(VIRTIO_CONSOLE_F_EMERG_WRITE);
    if (ports > 1) own |= bit(VIRTIO_CONSOLE_F_MULTIPORT);
    // Port 0's pair, the control pair, then a pair per further port.
    const queueSizes = [PORT_QUEUE_SIZE, PORT_QUEUE_SIZE, CONTROL_QUEUE_SIZE, CONTROL_QUEUE_SIZE];
    for (let port = 1; port < ports; port++) queueSizes.push(PORT_QUEUE_SIZE, PORT_QUEUE_SIZE);
    super(props, {
      bus,
      name: "virtio-serial",
      virtioId: VIRTIO_ID_CONSOLE,
      transitionalDeviceId: 0x1003,
      classCode: ACCEPTED_CLASSES.includes(props.class) ? props.class : 0x0780,
      vectors: props.vectors === VECTORS_UNSPECIFIED ? ports + 1 : props.vectors,
      queueSizes,
      configSize: hasBit(own, VIRTIO_CONSOLE_F_EMERG_WRITE) ? CONFIG_SIZE : CFG_EMERG_WR,
      features: (offered) => offered | own,
    });
    this.maxPorts = ports;
  }

  /** QEMU's realize replaces a class it does not take by 0x0780, and info qtree shows that one. */
  override qtreeValues(): Record<string, unknown> {
    return { ...super.qtreeValues(), class: this.config.get16(PCI_CLASS_DEVICE) };
  }

  /** cols and rows read 0; emerg_wr keeps what was written until a write consumes it. */
  protected override fillConfig(config: Uint8Array): void {
    const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
    v.setUint32(0, 0, true);
    v.setUint32(CFG_MAX_NR_PORTS, this.maxPorts, true);
  }

  /** A nonzero emerg_wr is a character written out at once (no port backend here); the field then reads 0. */
  protected override configWritten(config: Uint8Array): void {
    if (config.length > CFG_EMERG_WR) config.fill(0, CFG_EMERG_WR, CFG_EMERG_WR + 4);
  }
}
