import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import { objectLink, prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import type { DeviceProps } from "../src/pci/device.js";
import { describeState, u32 } from "../src/state/description.js";
import { scsiBus } from "../src/storage/scsi-bus.js";
import { VECTORS_UNSPECIFIED, VIRTIO_QUEUE_MAX, VIRTQUEUE_MAX_SIZE, bit } from "../src/virtio/constants.js";
import { ioeventfdProperty, readOnlyProperty, virtioDeviceProperties, virtioPciProperties, virtioQtree } from "../src/virtio/properties.js";
import { VirtioPciDevice } from "../src/virtio/transport.js";

const VIRTIO_ID_SCSI = 8;
/** VIRTIO_SCSI_F_* feature bits the properties offer. */
const F_HOTPLUG = 1;
const F_CHANGE = 2;
/** The control and event queues come before the request queues. */
const FIXED_QUEUES = 2;
const AUTO_NUM_QUEUES = 0xffffffff;
const SEG_MAX_UNADJUSTED = 128 - 2;

/** struct virtio_scsi_config: 36 bytes. */
const CFG_NUM_QUEUES = 0;
const CFG_SEG_MAX = 4;
const CFG_MAX_SECTORS = 8;
const CFG_CMD_PER_LUN = 12;
const CFG_EVENT_INFO_SIZE = 16;
const CFG_SENSE_SIZE = 20;
const CFG_CDB_SIZE = 24;
const CFG_MAX_CHANNEL = 28;
const CFG_MAX_TARGET = 30;
const CFG_MAX_LUN = 32;
const CONFIG_SIZE = 36;
const EVENT_SIZE = 16; // sizeof(VirtIOSCSIEvent)
const SENSE_DEFAULT = 96;
const CDB_DEFAULT = 32;
/** What the guest set (QEMU's s->sense_size, s->cdb_size); reset brings the defaults back. */
interface ScsiConfig {
  senseSize: number;
  cdbSize: number;
}

const SCSI_STATE = describeState<ScsiConfig>({ name: "virtio-scsi", version: 1, fields: [u32("senseSize"), u32("cdbSize")] });

/** What the bus takes (VIRTIO_SCSI_MAX_CHANNEL, _TARGET, _LUN). */
const LIMITS = { maxChannel: 0, maxTarget: 255, maxLun: 16383 };

const properties = {
  ...virtioPciProperties,
  ...virtioDeviceProperties,
  "virtio-backend": readOnlyProperty("child<virtio-scsi-device>", "the virtio-scsi-device inside the proxy"),
  ioeventfd: ioeventfdProperty,
  vectors: prop(types.uint32, VECTORS_UNSPECIFIED, "MSI-X vectors; default num_queues + 3; 0: no MSI-X"),
  num_queues: prop(types.uint32, AUTO_NUM_QUEUES, "request queues; 4294967295: one per vCPU (one here)"),
  virtqueue_size: prop(types.uint32, 256, "entries of each queue (more than 2, at most 1024)"),
  seg_max_adjust: prop(types.bool, true, "config seg_max is virtqueue_size - 2 (off: 126)"),
  max_sectors: prop(types.uint32, 0xffff, "config max_sectors: the largest request in 512-byte sectors"),
  cmd_per_lun: prop(types.uint32, 128, "config cmd_per_lun: commands a LUN takes at once"),
  hotplug: prop(types.bool, true, "offers VIRTIO_SCSI_F_HOTPLUG (feature bit 1); the events themselves are not modelled"),
  param_change: prop(types.bool, true, "offers VIRTIO_SCSI_F_CHANGE (feature bit 2)"),
  iothread: objectLink("iothread", "ID of an iothread object that handles requests (no effect on the guest view)"),
};

type ScsiProps = DeviceProps<typeof properties>;

/**
 * virtio SCSI host adapter on PCI (QEMU's "virtio-scsi-pci", 1af4:1004, SCSI storage
 * controller): control, event and request queues, and the limits of its SCSI bus (`<id>.0`:
 * channel 0, targets 0-255, LUNs 0-16383) in the device configuration; the guest may set
 * sense_size and cdb_size. Registers only: no request or event is ever processed.
 */
@pciDriver({
  name: "virtio-scsi-pci",
  description: "virtio SCSI host adapter on PCI",
  category: "storage",
  properties,
  parents: ["virtio-scsi-pci-base", "virtio-pci", "virtio-scsi-device", "virtio-scsi-common", "virtio-device"],
  buses: [{ ...scsiBus(LIMITS), below: "virtio-backend" }],
  qtree: virtioQtree(["ioeventfd", "vectors"], "virtio-scsi-device", [
    "num_queues",
    "virtqueue_size",
    "seg_max_adjust",
    "max_sectors",
    "cmd_per_lun",
    "hotplug",
    "param_change",
  ]),
})
export class VirtioScsiPci extends VirtioPciDevice {
  private readonly scsi: ScsiProps;
  private readonly numQueues: number;
  private readonly guest: ScsiConfig = { senseSize: SENSE_DEFAULT, cdbSize: CDB_DEFAULT };

  constructor(@inject(PLUG_BUS) bus: PciBus, @inject(DEVICE_PROPS) props: ScsiProps) {
    const numQueues = props.num_queues === AUTO_NUM_QUEUES ? 1 : props.num_queues;
    if (numQueues === 0 || numQueues > VIRTIO_QUEUE_MAX - FIXED_QUEUES) {
      throw new MachbusError(
        "bad-property-value",
        `Invalid number of queues (= ${numQueues}), must be a positive integer less than ${VIRTIO_QUEUE_MAX - FIXED_QUEUES}.`,
      );
    }
    const size = props.virtqueue_size;
    if (size <= 2) throw new MachbusError("bad-property-value", `invalid virtqueue_size property (= ${size}), must be > 2`);
    // QEMU 7.2 aborts here (virtio_add_queue); machbus refuses the value instead.
    if (size > VIRTQUEUE_MAX_SIZE) {
      throw new MachbusError("bad-property-value", `invalid virtqueue_size property (= ${size}), must be at most ${VIRTQUEUE_MAX_SIZE}`);
    }
    let own = 0n;
    if (props.hotplug) own |= bit(F_HOTPLUG);
    if (props.param_change) own |= bit(F_CHANGE);
    super(props, {
      bus,
      name: "virtio-scsi",
      virtioId: VIRTIO_ID_SCSI,
      transitionalDeviceId: 0x1004,
      classCode: 0x0100,
      vectors: props.vectors === VECTORS_UNSPECIFIED ? numQueues + FIXED_QUEUES + 1 : props.vectors,
      queueSizes: new Array<number>(numQueues + FIXED_QUEUES).fill(size),
      configSize: CONFIG_SIZE,
      features: (offered) => offered | own,
    });
    this.scsi = props;
    this.numQueues = numQueues;
    this.function.keepState(SCSI_STATE, this.guest);
  }

  override qtreeValues(): Record<string, unknown> {
    return { ...super.qtreeValues(), num_queues: this.numQueues };
  }

  protected override fillConfig(config: Uint8Array): void {
    const p = this.scsi;
    const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
    v.setUint32(CFG_NUM_QUEUES, this.numQueues, true);
    v.setUint32(CFG_SEG_MAX, p.seg_max_adjust ? p.virtqueue_size - 2 : SEG_MAX_UNADJUSTED, true);
    v.setUint32(CFG_MAX_SECTORS, p.max_sectors, true);
    v.setUint32(CFG_CMD_PER_LUN, p.cmd_per_lun, true);
    v.setUint32(CFG_EVENT_INFO_SIZE, EVENT_SIZE, true);
    v.setUint32(CFG_SENSE_SIZE, this.guest.senseSize, true);
    v.setUint32(CFG_CDB_SIZE, this.guest.cdbSize, true);
    v.setUint16(CFG_MAX_CHANNEL, LIMITS.maxChannel, true);
    v.setUint16(CFG_MAX_TARGET, LIMITS.maxTarget, true);
    v.setUint32(CFG_MAX_LUN, LIMITS.maxLun, true);
  }

  /** sense_size and cdb_size are writable; values QEMU cannot take break the device instead (virtio_error). */
  protected override configWritten(config: Uint8Array): void {
    const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
    const sense = v.getUint32(CFG_SENSE_SIZE, true);
    const cdb = v.getUint32(CFG_CDB_SIZE, true);
    if (sense >= 0x10000 || cdb >= 0x100) {
      this.virtioError();
      return;
    }
    this.guest.senseSize = sense;
    this.guest.cdbSize = cdb;
  }

  protected override resetDevice(): void {
    this.guest.senseSize = SENSE_DEFAULT;
    this.guest.cdbSize = CDB_DEFAULT;
  }
}
