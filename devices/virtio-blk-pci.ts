import { inject } from "tsyringe";
import { MachbusError } from "../src/errors.js";
import { pciDriver } from "../src/machine/drivers.js";
import type { HostDrive } from "../src/machine/host-config.js";
import type { Machine } from "../src/machine/machine.js";
import { bootindexProperty, hostLink, objectLink, prop, types } from "../src/machine/properties.js";
import { DEVICE_PROPS, MACHINE, PLUG_BUS } from "../src/machine/tokens.js";
import type { PciBus } from "../src/pci/bus.js";
import type { DeviceProps } from "../src/pci/device.js";
import { bool, describeState } from "../src/state/description.js";
import {
  VECTORS_UNSPECIFIED,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_VERSION_1,
  VIRTIO_ID_BLOCK,
  VIRTQUEUE_MAX_SIZE,
  VIRTIO_QUEUE_MAX,
  bit,
  hasBit,
} from "../src/virtio/constants.js";
import {
  ioeventfdProperty,
  onOffAuto,
  sizeType,
  readOnlyProperty,
  virtioDeviceProperties,
  virtioPciProperties,
  virtioQtree,
} from "../src/virtio/properties.js";
import { VirtioPciDevice } from "../src/virtio/transport.js";
import { blockGeometry, blockSizes, checkBlockSizeProperties, chsProperties } from "../src/storage/block-conf.js";

/** VIRTIO_BLK_F_* feature bits. */
const F = {
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  SCSI: 7,
  WCE: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** struct virtio_blk_config: 36 bytes, then the discard fields (to 48), then the write-zeroes ones (to 57). */
const CFG_CAPACITY = 0;
const CFG_SEG_MAX = 12;
const CFG_CYLINDERS = 16;
const CFG_HEADS = 18;
const CFG_SECTORS = 19;
const CFG_BLK_SIZE = 20;
const CFG_PHYSICAL_BLOCK_EXP = 24;
const CFG_MIN_IO_SIZE = 26;
const CFG_OPT_IO_SIZE = 28;
const CFG_WCE = 32;
const CFG_NUM_QUEUES = 34;
const CFG_MAX_DISCARD_SECTORS = 36;
const CFG_MAX_DISCARD_SEG = 40;
const CFG_DISCARD_SECTOR_ALIGNMENT = 44;
const CFG_MAX_WRITE_ZEROES_SECTORS = 48;
const CFG_MAX_WRITE_ZEROES_SEG = 52;
const CFG_WRITE_ZEROES_MAY_UNMAP = 56;
const CONFIG_SIZE_MIN = 36;
const CONFIG_SIZE_DISCARD = 48;
const CONFIG_SIZE_WRITE_ZEROES = 57;

const SECTOR = 512;
const AUTO_NUM_QUEUES = 0xffff;
/** BDRV_REQUEST_MAX_SECTORS: INT_MAX >> 9. */
const REQUEST_MAX_SECTORS = 4194303;
const DEFAULT_DRIVE_SIZE = 1024 * 1024;
const SEG_MAX_UNADJUSTED = 128 - 2;

const blockdevOnError = types.enumOf(["report", "ignore", "enospc", "stop", "auto"] as const);
const NO_EFFECT = " (no effect on the guest view)";

const properties = {
  ...virtioPciProperties,
  ...virtioDeviceProperties,
  "virtio-backend": readOnlyProperty("child<virtio-blk-device>", "the virtio-blk-device inside the proxy"),
  ioeventfd: ioeventfdProperty,
  vectors: prop(types.uint32, VECTORS_UNSPECIFIED, "MSI-X vectors; default num-queues + 1; 0: no MSI-X"),
  class: prop(types.uint32, 0, "PCI class code (base class and subclass); 0 for mass storage/SCSI (0x0100)"),
  drive: prop(
    hostLink("drive"),
    "",
    "Node name or ID of a block device to use as a backend (required; a read-only drive offers VIRTIO_BLK_F_RO; no I/O is done)",
  ),
  "drive-size": prop(
    sizeType,
    DEFAULT_DRIVE_SIZE,
    "machbus: size in bytes of the image behind drive (QEMU reads it from the image); capacity and default geometry follow it",
  ),
  "num-queues": prop(types.uint16, AUTO_NUM_QUEUES, "request queues; 65535: one per vCPU (one here)"),
  "queue-size": prop(types.uint16, 256, "entries per queue: a power of two from 4 to 1024"),
  "seg-max-adjust": prop(types.bool, true, "seg_max is queue-size - 2 (off: 126)"),
  "config-wce": prop(types.bool, true, "offers VIRTIO_BLK_F_CONFIG_WCE (feature bit 11): the guest may switch the write cache"),
  "x-enable-wce-if-config-wce": prop(types.bool, true, "offers VIRTIO_BLK_F_WCE whenever CONFIG_WCE is offered, even with write-cache=off"),
  scsi: prop(types.bool, false, "offers VIRTIO_BLK_F_SCSI (feature bit 7; always offered to legacy-only devices, refused with virtio 1.0)"),
  discard: prop(types.bool, true, "offers VIRTIO_BLK_F_DISCARD (feature bit 13) and the config discard fields"),
  "write-zeroes": prop(types.bool, true, "offers VIRTIO_BLK_F_WRITE_ZEROES (feature bit 14) and the config write-zeroes fields"),
  "max-discard-sectors": prop(types.uint32, REQUEST_MAX_SECTORS, "config max_discard_sectors (1 to 4194303)"),
  "max-write-zeroes-sectors": prop(types.uint32, REQUEST_MAX_SECTORS, "config max_write_zeroes_sectors (1 to 4194303)"),
  "report-discard-granularity": prop(types.bool, true, "reports discard_granularity (off: the logical block size)"),
  discard_granularity: prop(sizeType, 0xffffffff, "config discard_sector_alignment in bytes; 4294967295: the logical block size"),
  logical_block_size: prop(sizeType, 0, "A power of two between 512 B and 2 MiB (0: 512)"),
  physical_block_size: prop(sizeType, 0, "A power of two between 512 B and 2 MiB (0: 512); sets physical_block_exp"),
  min_io_size: prop(sizeType, 0, "config min_io_size in bytes (a multiple of logical_block_size)"),
  opt_io_size: prop(sizeType, 0, "config opt_io_size in bytes (a multiple of logical_block_size)"),
  ...chsProperties, // cyls 1-65535, heads and secs 1-255
  "write-cache": prop(onOffAuto, "auto", "write cache (config wce); auto: on, as a drive's default cache mode has it"),
  serial: prop(types.str, "", "disk serial number, returned by a GET_ID request" + NO_EFFECT),
  bootindex: bootindexProperty,
  iothread: objectLink("iothread", "ID of an iothread object that handles requests" + NO_EFFECT),
  "request-merging": prop(types.bool, true, "merges adjacent requests" + NO_EFFECT),
  "share-rw": prop(types.bool, false, "lets other users write the image" + NO_EFFECT),
  backend_defaults: prop(onOffAuto, "auto", "takes block sizes from the backend (a plain image has none to give)"),
  rerror: prop(blockdevOnError, "auto", "Error handling policy, report/ignore/enospc/stop/auto" + NO_EFFECT),
  werror: prop(blockdevOnError, "auto", "Error handling policy, report/ignore/enospc/stop/auto" + NO_EFFECT),
  "account-failed": prop(onOffAuto, "auto", "counts failed requests in statistics" + NO_EFFECT),
  "account-invalid": prop(onOffAuto, "auto", "counts invalid requests in statistics" + NO_EFFECT),
};

type BlkProps = DeviceProps<typeof properties>;

/** Block sizes and geometry after QEMU's checks (blkconf_blocksizes, blkconf_geometry). */
interface BlockConf {
  readOnly: boolean;
  logical: number;
  physical: number;
  cyls: number;
  heads: number;
  secs: number;
  numQueues: number;
}

/** The write cache as the guest sees it; reset restores the configured one. */
interface WriteCache {
  wce: boolean;
}

const BLK_STATE = describeState<WriteCache>({ name: "virtio-blk", version: 1, fields: [bool("wce")] });

/**
 * virtio block device on PCI (QEMU's "virtio-blk-pci", 1af4:1001, SCSI storage controller):
 * capacity, geometry, block sizes, write cache and limits in the device configuration, one
 * request queue per vCPU. Registers only: no request is ever executed.
 */
@pciDriver({
  name: "virtio-blk-pci",
  description: "virtio block device on PCI",
  category: "storage",
  properties,
  parents: ["virtio-blk-pci-base", "virtio-pci", "virtio-blk-device", "virtio-device"],
  qtree: virtioQtree(["class", "ioeventfd", "vectors"], "virtio-blk-device", [
    "drive",
    "backend_defaults",
    "logical_block_size",
    "physical_block_size",
    "min_io_size",
    "opt_io_size",
    "discard_granularity",
    "write-cache",
    "share-rw",
    "account-invalid",
    "account-failed",
    "rerror",
    "werror",
    "cyls",
    "heads",
    "secs",
    "lcyls",
    "lheads",
    "lsecs",
    "serial",
    "config-wce",
    "scsi",
    "request-merging",
    "num-queues",
    "queue-size",
    "seg-max-adjust",
    "discard",
    "report-discard-granularity",
    "write-zeroes",
    "max-discard-sectors",
    "max-write-zeroes-sectors",
    "x-enable-wce-if-config-wce",
  ]),
})
export class VirtioBlkPci extends VirtioPciDevice {
  private readonly blk: BlkProps;
  private readonly conf: BlockConf;
  private readonly own: bigint;
  private readonly cache: WriteCache;

  constructor(@inject(PLUG_BUS) bus: PciBus, @inject(DEVICE_PROPS) props: BlkProps, @inject(MACHINE) machine: Machine) {
    const conf = blockConf(props, props.drive ? machine.hostDrive(props.drive) : undefined);
    const own = ownFeatures(props);
    super(props, {
      bus,
      name: "virtio-blk",
      virtioId: VIRTIO_ID_BLOCK,
      transitionalDeviceId: 0x1001,
      classCode: props.class ? props.class & 0xffff : 0x0100,
      vectors: props.vectors === VECTORS_UNSPECIFIED ? conf.numQueues + 1 : props.vectors,
      queueSizes: new Array<number>(conf.numQueues).fill(props["queue-size"]),
      configSize: hasBit(own, F.WRITE_ZEROES) ? CONFIG_SIZE_WRITE_ZEROES : hasBit(own, F.DISCARD) ? CONFIG_SIZE_DISCARD : CONFIG_SIZE_MIN,
      features: (offered) => blkFeatures(offered | own, props, conf),
    });
    this.blk = props;
    this.conf = conf;
    this.own = own;
    this.cache = { wce: props["write-cache"] !== "off" };
    this.function.keepState(BLK_STATE, this.cache);
  }

  /** What realize settled (block sizes, queues, geometry), as info qtree shows it. */
  override qtreeValues(): Record<string, unknown> {
    const { logical, physical, numQueues, cyls, heads, secs } = this.conf;
    return {
      ...super.qtreeValues(),
      logical_block_size: logical,
      physical_block_size: physical,
      "num-queues": numQueues,
      cyls,
      heads,
      secs,
    };
  }

  protected override fillConfig(config: Uint8Array): void {
    const p = this.blk;
    const c = this.conf;
    const all = new Uint8Array(60);
    const v = new DataView(all.buffer);
    v.setBigUint64(CFG_CAPACITY, BigInt(Math.floor(p["drive-size"] / SECTOR)), true);
    v.setUint32(CFG_SEG_MAX, p["seg-max-adjust"] ? p["queue-size"] - 2 : SEG_MAX_UNADJUSTED, true);
    v.setUint16(CFG_CYLINDERS, c.cyls, true);
    all[CFG_HEADS] = c.heads;
    // A capacity that is not a whole number of logical blocks per track gets its sector count rounded down.
    const sectorMask = c.logical / SECTOR - 1;
    const size = p["drive-size"];
    all[CFG_SECTORS] = size > 0 && Math.floor(Math.floor(size / c.heads) / c.secs) % c.logical ? c.secs & ~sectorMask : c.secs;
    v.setUint32(CFG_BLK_SIZE, c.logical, true);
    all[CFG_PHYSICAL_BLOCK_EXP] = Math.log2(c.physical / c.logical);
    v.setUint16(CFG_MIN_IO_SIZE, Math.floor(p.min_io_size / c.logical), true);
    v.setUint32(CFG_OPT_IO_SIZE, Math.floor(p.opt_io_size / c.logical), true);
    all[CFG_WCE] = this.cache.wce ? 1 : 0;
    v.setUint16(CFG_NUM_QUEUES, c.numQueues, true);
    if (hasBit(this.own, F.DISCARD)) {
      const granularity = p.discard_granularity === 0xffffffff || !p["report-discard-granularity"] ? c.logical : p.discard_granularity;
      v.setUint32(CFG_MAX_DISCARD_SECTORS, p["max-discard-sectors"], true);
      v.setUint32(CFG_DISCARD_SECTOR_ALIGNMENT, Math.floor(granularity / SECTOR), true);
      v.setUint32(CFG_MAX_DISCARD_SEG, 1, true);
    }
    if (hasBit(this.own, F.WRITE_ZEROES)) {
      v.setUint32(CFG_MAX_WRITE_ZEROES_SECTORS, p["max-write-zeroes-sectors"], true);
      all[CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
      v.setUint32(CFG_MAX_WRITE_ZEROES_SEG, 1, true);
    }
    config.set(all.subarray(0, config.length));
  }

  /** wce is the only writable field: any nonzero value turns the write cache on. */
  protected override configWritten(config: Uint8Array): void {
    this.cache.wce = config[CFG_WCE] !== 0;
  }

  /** At DRIVER_OK, a driver that cannot switch the cache (no CONFIG_WCE) gets the cache it negotiated (WCE). */
  protected override statusChanging(value: number): void {
    if (!(value & VIRTIO_CONFIG_S_DRIVER_OK) || this.guestHas(F.CONFIG_WCE)) return;
    this.cache.wce = this.guestHas(F.WCE);
  }

  protected override resetDevice(): void {
    this.cache.wce = this.blk["write-cache"] !== "off";
  }
}

/** The feature bits the properties ask for (s->host_features). */
function ownFeatures(props: BlkProps): bigint {
  let f = 0n;
  if (props["config-wce"]) f |= bit(F.CONFIG_WCE);
  if (props.scsi) f |= bit(F.SCSI);
  if (props.discard) f |= bit(F.DISCARD);
  if (props["write-zeroes"]) f |= bit(F.WRITE_ZEROES);
  return f;
}

/** QEMU's virtio_blk_get_features: SCSI passthrough is legacy-only, so is ANY_LAYOUT. */
function blkFeatures(features: bigint, props: BlkProps, conf: BlockConf): bigint {
  let f = features | bit(F.SEG_MAX) | bit(F.GEOMETRY) | bit(F.TOPOLOGY) | bit(F.BLK_SIZE);
  if (hasBit(f, VIRTIO_F_VERSION_1)) {
    if (props.scsi) throw new MachbusError("bad-property-value", "Please set scsi=off for virtio-blk devices in order to use virtio 1.0");
  } else {
    f = (f & ~bit(VIRTIO_F_ANY_LAYOUT)) | bit(F.SCSI);
  }
  if (props["write-cache"] !== "off" || (props["x-enable-wce-if-config-wce"] && hasBit(f, F.CONFIG_WCE))) f |= bit(F.WCE);
  if (conf.readOnly) f |= bit(F.RO);
  if (conf.numQueues > 1) f |= bit(F.MQ);
  return f;
}

/** QEMU's realize checks, in its order, with its texts. */
function blockConf(props: BlkProps, drive: HostDrive | undefined): BlockConf {
  checkBlockSizeProperties(props);
  if (!props.drive) throw new MachbusError("bad-property-value", "drive property not set");
  if (!drive?.file) throw new MachbusError("bad-property-value", "Device needs media, but drive is empty");
  const readOnly = drive.readonly ?? false;
  const numQueues = props["num-queues"] === AUTO_NUM_QUEUES ? 1 : Math.min(props["num-queues"], VIRTIO_QUEUE_MAX);
  if (numQueues === 0) throw new MachbusError("bad-property-value", "num-queues property must be larger than 0");
  const qs = props["queue-size"];
  if (qs <= 2) throw new MachbusError("bad-property-value", `invalid queue-size property (${qs}), must be > 2`);
  if ((qs & (qs - 1)) !== 0 || qs > VIRTQUEUE_MAX_SIZE) {
    throw new MachbusError("bad-property-value", `invalid queue-size property (${qs}), must be a power of 2 (max ${VIRTQUEUE_MAX_SIZE})`);
  }
  const { cyls, heads, secs } = blockGeometry(props, props["drive-size"], { cyls: 65535, heads: 255, secs: 255 });
  const { logical, physical } = blockSizes(props);
  const limit = (name: "max-discard-sectors" | "max-write-zeroes-sectors", on: boolean) => {
    const v = props[name];
    if (on && (v === 0 || v > REQUEST_MAX_SECTORS)) {
      throw new MachbusError("bad-property-value", `invalid ${name} property (${v}), must be between 1 and ${REQUEST_MAX_SECTORS}`);
    }
  };
  limit("max-discard-sectors", props.discard);
  limit("max-write-zeroes-sectors", props["write-zeroes"]);
  return { readOnly, logical, physical, cyls, heads, secs, numQueues };
}
