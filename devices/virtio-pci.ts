import { MachbusError } from "../src/errors.js";
import { Region, type RegionOps } from "../src/memory/address-space.js";
import { parseInteger, prop, types, type PropertyType } from "../src/machine/properties.js";
import { getLe, setLe } from "../src/pci/config-space.js";
import { PCI_CAP_ID_VNDR, PCI_COMMAND, PCI_COMMAND_MASTER } from "../src/pci/constants.js";
import { PciDevice, type DeviceProps } from "../src/pci/device.js";
import type { ConfigReadHookHandle } from "../src/pci/function.js";
import { MSIX_MAX_VECTORS, Msix } from "../src/pci/msix.js";
import type { StatePart } from "../src/state/state-part.js";

/*
 * The virtio-pci transport (QEMU's hw/virtio/virtio-pci.c plus the register half of virtio.c):
 * shared by the virtio-*-pci drivers, not a driver itself. Queues are registers only: no ring
 * is ever read or written.
 */

export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_BALLOON = 5;

/** Feature bits the transport and every virtio device share. */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;
export const VIRTIO_F_BAD_FEATURE = 30;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_IOMMU_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_RING_RESET = 40;

export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
export const VIRTIO_CONFIG_S_DRIVER = 2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;

/** A vector register's "none" (and what a refused vector reads back as). */
export const VIRTIO_NO_VECTOR = 0xffff;
/** QEMU's DEV_NVECTORS_UNSPECIFIED: the driver picks the MSI-X vector count. */
export const VECTORS_UNSPECIFIED = 0xffffffff;
export const VIRTIO_QUEUE_MAX = 1024;
export const VIRTQUEUE_MAX_SIZE = 1024;

/** Features only legacy drivers see: modern device_feature hides them (QEMU's VIRTIO_LEGACY_FEATURES). */
const LEGACY_ONLY_FEATURES = bit(VIRTIO_F_BAD_FEATURE) | bit(VIRTIO_F_NOTIFY_ON_EMPTY) | bit(VIRTIO_F_ANY_LAYOUT);

/** Legacy header in I/O BAR 0 (VIRTIO_PCI_*); device config follows at 20, or 24 while MSI-X is enabled. */
const LEGACY_HOST_FEATURES = 0;
const LEGACY_GUEST_FEATURES = 4;
const LEGACY_QUEUE_PFN = 8;
const LEGACY_QUEUE_NUM = 12;
const LEGACY_QUEUE_SEL = 14;
const LEGACY_QUEUE_NOTIFY = 16;
const LEGACY_STATUS = 18;
const LEGACY_ISR = 19;
const LEGACY_MSI_CONFIG_VECTOR = 20;
const LEGACY_MSI_QUEUE_VECTOR = 22;
const LEGACY_CONFIG_OFF = 20;
const LEGACY_CONFIG_OFF_MSIX = 24;
const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;

/** Common configuration structure (struct virtio_pci_common_cfg). */
const COMMON_DFSELECT = 0x00;
const COMMON_DF = 0x04;
const COMMON_GFSELECT = 0x08;
const COMMON_GF = 0x0c;
const COMMON_MSIX = 0x10;
const COMMON_NUMQ = 0x12;
const COMMON_STATUS = 0x14;
const COMMON_CFGGENERATION = 0x15;
const COMMON_Q_SELECT = 0x16;
const COMMON_Q_SIZE = 0x18;
const COMMON_Q_MSIX = 0x1a;
const COMMON_Q_ENABLE = 0x1c;
const COMMON_Q_NOFF = 0x1e;
/** queue_desc, queue_avail, queue_used: low and high dwords each, 0x20 to 0x37. */
const COMMON_Q_DESCLO = 0x20;
const COMMON_Q_USEDHI = 0x34;
const COMMON_Q_RESET = 0x3a;

/** Vendor capability types (cfg_type) and struct virtio_pci_cap's fields. */
const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
const VIRTIO_PCI_CAP_PCI_CFG = 5;
const CAP_LEN = 2;
const CAP_CFG_TYPE = 3;
const CAP_BAR = 4;
const CAP_OFFSET = 8;
const CAP_LENGTH = 12;
const CAP_NOTIFY_MULTIPLIER = 16;
const CAP_PCI_CFG_DATA = 16;
const VIRTIO_PCI_CAP_SIZE = 16;
const VIRTIO_PCI_NOTIFY_CAP_SIZE = 20;
const VIRTIO_PCI_CFG_CAP_SIZE = 20;

/** QEMU's default BAR layout: legacy I/O 0, MSI-X 1, modern I/O notify 2, modern memory 4-5. */
const LEGACY_IO_BAR = 0;
const MSIX_BAR = 1;
const MODERN_IO_BAR = 2;
const MODERN_MEM_BAR = 4;
const REGION_PAGE = 0x1000;
const PAGE_PER_VQ_MULTIPLIER = 0x1000;
const NOTIFY_MULTIPLIER = 4;

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function hasBit(features: bigint, n: number): boolean {
  return (features & bit(n)) !== 0n;
}

/** QEMU's OnOffAuto. */
export const onOffAuto = types.enumOf(["on", "off", "auto"] as const);

/** QEMU's size type: bytes, with an optional k/M/G/T suffix (binary units). */
export const sizeType: PropertyType<number> = {
  name: "size",
  parse(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT])?[bB]?\s*$/.exec(text);
    let v: number | null;
    if (m) v = Math.round(parseFloat(m[1]!) * 1024 ** " kmgt".indexOf((m[2] ?? " ").toLowerCase()));
    else v = parseInteger(text);
    if (v === null || !Number.isSafeInteger(v) || v < 0) return { error: "a size in bytes, optionally with a k, M, G or T suffix" };
    return { value: v };
  },
  format: (v) => String(v),
};

/** Properties of every virtio device (QEMU's virtio-device: the shared ring features and flags). */
export const virtioDeviceProperties = {
  indirect_desc: prop(types.bool, true, "offers VIRTIO_RING_F_INDIRECT_DESC (feature bit 28)"),
  event_idx: prop(types.bool, true, "offers VIRTIO_RING_F_EVENT_IDX (feature bit 29)"),
  notify_on_empty: prop(types.bool, true, "offers VIRTIO_F_NOTIFY_ON_EMPTY (feature bit 24, legacy drivers only)"),
  any_layout: prop(types.bool, true, "offers VIRTIO_F_ANY_LAYOUT (feature bit 27, legacy drivers only)"),
  iommu_platform: prop(types.bool, false, "offers VIRTIO_F_IOMMU_PLATFORM (feature bit 33); refused while the legacy interface is on"),
  packed: prop(types.bool, false, "offers VIRTIO_F_RING_PACKED (feature bit 34)"),
  queue_reset: prop(types.bool, true, "offers VIRTIO_F_RING_RESET (feature bit 40)"),
  "use-started": prop(types.bool, true, "vhost start tracking (no effect here)"),
  "use-disabled-flag": prop(
    types.bool,
    true,
    "clearing the bus-master bit silences the device's interrupts until it is set again or the device resets",
  ),
  "x-disable-legacy-check": prop(
    types.bool,
    false,
    "skips the modern-only check of device types that have no legacy interface (no effect on these devices)",
  ),
};

/** Properties of the virtio-pci proxy (QEMU's virtio-pci), minus `vectors` and `ioeventfd`, which not every driver has. */
export const virtioPciProperties = {
  "disable-legacy": prop(onOffAuto, "auto", "legacy interface (I/O BAR 0, device ID 0x1000 + n); auto means on, on conventional PCI"),
  "disable-modern": prop(
    types.bool,
    false,
    "virtio 1.0 interface (64-bit BAR 4, vendor capabilities); with disable-legacy=on: device ID 0x1040 + type, revision 1",
  ),
  "modern-pio-notify": prop(types.bool, false, "adds a 4-byte I/O BAR 2 and a second notify capability for queue notifications by port"),
  "page-per-vq": prop(types.bool, false, "notify addresses 4 KiB apart instead of 4 bytes (BAR 4 grows to 8 MiB)"),
  "migrate-extra": prop(types.bool, true, "migrates the modern interface's state (no effect on the guest view)"),
  "virtio-pci-bus-master-bug-migration": prop(types.bool, false, "migration work-around for old guests (no effect on the guest view)"),
  "x-ignore-backend-features": prop(types.bool, false, "keeps the modern interface even if the backend does not offer VIRTIO_F_VERSION_1"),
  "x-disable-pcie": prop(types.bool, false, "PCI Express capabilities behind a PCIe port (no effect on conventional PCI)"),
  ats: prop(types.bool, false, "PCIe ATS capability (no effect on conventional PCI)"),
  "x-ats-page-aligned": prop(types.bool, true, "PCIe ATS page alignment (no effect on conventional PCI)"),
  aer: prop(types.bool, false, "PCIe AER capability (no effect on conventional PCI)"),
  "x-pcie-deverr-init": prop(types.bool, true, "PCIe device error reporting init (no effect on conventional PCI)"),
  "x-pcie-lnkctl-init": prop(types.bool, true, "PCIe link control init (no effect on conventional PCI)"),
  "x-pcie-pm-init": prop(types.bool, true, "PCIe power management capability (no effect on conventional PCI)"),
  "x-pcie-flr-init": prop(types.bool, true, "PCIe function level reset (no effect on conventional PCI)"),
};

/**
 * A property QEMU lists but lets nobody set (a QOM child or a read-only statistic): declared so
 * listings match QEMU's, refused when given.
 */
export function readOnlyProperty(typeName: string, description: string) {
  const type: PropertyType<string> = {
    name: typeName,
    parse: () => ({ error: "nothing: the property is not writable" }),
    format: (v) => v,
  };
  return prop(type, "", `${description} (not writable)`, { writable: false });
}

/** `ioeventfd` (for the drivers that list it). */
export const ioeventfdProperty = prop(types.bool, true, "kicks handled in a host thread (no effect on the guest view)");

export type VirtioPciProps = DeviceProps<typeof virtioPciProperties & typeof virtioDeviceProperties>;

/** What a virtio device model tells the transport (QEMU's VirtioDeviceClass data, resolved at realize). */
export interface VirtioSpec {
  /** QEMU's vdev name, e.g. "virtio-net"; region names derive from it. */
  readonly name: string;
  /** virtio device type (VIRTIO_ID_*): the legacy subsystem ID and the modern device ID's low part. */
  readonly virtioId: number;
  /** PCI device ID of the transitional device (0x1000 + n). */
  readonly transitionalDeviceId: number;
  readonly classCode: number;
  /** MSI-X vectors (0: no MSI-X; above 2048: none either, as QEMU warns and goes on). */
  readonly vectors: number;
  /** Size of each virtqueue the device creates, in queue order. */
  readonly queueSizes: readonly number[];
  /** Bytes of device-specific configuration. */
  readonly configSize: number;
  /** QEMU's get_features: the device's offer, given the transport's and the common properties' bits. */
  features(offered: bigint): bigint;
  /** Device features only legacy drivers see (virtio-net: GSO). */
  readonly legacyOnlyFeatures?: bigint;
}

interface ModernRegion {
  readonly offset: number;
  readonly size: number;
  readonly ops: RegionOps;
}

/**
 * A virtio device on PCI (QEMU's VirtIOPCIProxy with its VirtIODevice). Modes: transitional
 * (default: legacy I/O BAR 0 and the modern BAR 4), legacy only (disable-modern=on, as every
 * machine type up to 2.6), modern only (disable-legacy=on). MSI-X in its own BAR 1 when the
 * driver asks for vectors. Subclasses fill in the device configuration (`fillConfig`) and react
 * to guest writes of it (`configWritten`), and may raise interrupts with `notifyQueue` and
 * `notifyConfig`.
 */
export abstract class VirtioPciDevice extends PciDevice {
  readonly legacy: boolean;
  readonly modern: boolean;
  /** What the device offers (vdev->host_features), VERSION_1 and BAD_FEATURE included. */
  readonly hostFeatures: bigint;
  readonly msix: Msix | null;
  readonly virtioName: string;

  /** The device half's registers (QEMU's VirtIODevice). */
  private guestFeatures = 0n;
  private status = 0;
  private isr = 0;
  private queueSel = 0;
  private configVector = VIRTIO_NO_VECTOR;
  private generation = 0;
  private broken = false;
  private disabled = false;

  /** Device configuration as last filled or written (vdev->config). */
  protected readonly configBytes: Uint8Array;
  private readonly legacyOnly: bigint;
  private readonly useDisabledFlag: boolean;
  private readonly notifyMultiplier: number;
  /** Per virtqueue (vdev->vq[n]): default and current size, descriptor address halves, vector. */
  private readonly vqNumDefault = new Uint16Array(VIRTIO_QUEUE_MAX);
  private readonly vqNum = new Uint16Array(VIRTIO_QUEUE_MAX);
  private readonly vqDesc = new Uint32Array(2 * VIRTIO_QUEUE_MAX);
  private readonly vqVector = new Uint16Array(VIRTIO_QUEUE_MAX).fill(VIRTIO_NO_VECTOR);
  /** The modern interface's per-queue registers (proxy->vqs[n]): num, enabled, reset, desc/avail/used halves. */
  private readonly pqNum = new Uint16Array(VIRTIO_QUEUE_MAX);
  private readonly pqEnabled = new Uint8Array(VIRTIO_QUEUE_MAX);
  private readonly pqReset = new Uint8Array(VIRTIO_QUEUE_MAX);
  private readonly pqRings = new Uint32Array(6 * VIRTIO_QUEUE_MAX);
  private dfselect = 0;
  private gfselect = 0;
  private readonly proxyGuestFeatures = new Uint32Array(2);
  private readonly modernRegions: ModernRegion[] = [];
  private cfgCap = 0;
  private cfgWindowRead: ConfigReadHookHandle | null = null;

  protected constructor(props: VirtioPciProps, spec: VirtioSpec) {
    const plan = planTransport(props, spec);
    super(plan.identity, props);
    this.legacy = plan.legacy;
    this.modern = plan.modern;
    this.hostFeatures = plan.hostFeatures;
    this.virtioName = spec.name;
    this.legacyOnly = LEGACY_ONLY_FEATURES | (spec.legacyOnlyFeatures ?? 0n);
    this.useDisabledFlag = props["use-disabled-flag"];
    this.notifyMultiplier = props["page-per-vq"] ? PAGE_PER_VQ_MULTIPLIER : NOTIFY_MULTIPLIER;
    this.configBytes = new Uint8Array(spec.configSize);
    spec.queueSizes.slice(0, VIRTIO_QUEUE_MAX).forEach((size, n) => {
      this.vqNumDefault[n] = size;
      this.vqNum[n] = size;
    });

    if (this.modern) this.addModernInterface(props["modern-pio-notify"]);
    // msix_init_exclusive_bar refuses more than 2048 vectors; QEMU warns and goes on without MSI-X.
    this.msix =
      spec.vectors > 0 && spec.vectors <= MSIX_MAX_VECTORS
        ? Msix.exclusiveBar(this, spec.vectors, MSIX_BAR, { name: `${this.driver}-msix` })
        : null;
    if (this.legacy) {
      const size = pow2ceil((this.msix ? LEGACY_CONFIG_OFF_MSIX : LEGACY_CONFIG_OFF) + spec.configSize);
      this.defineBar(LEGACY_IO_BAR, {
        kind: "io",
        size,
        name: "virtio-pci",
        ops: { read: (o, s) => this.legacyRead(o, s), write: (o, s, v) => this.legacyWrite(o, s, v) },
        regionOptions: { owner: this.driver },
      });
    }
    this.function.onConfigWrite(PCI_COMMAND, 1, () => this.commandWritten());
    this.function.stateParts.push(this.statePart());
  }

  // ---- for device models ----

  /** Fills `config` with the device configuration as the guest reads it now (QEMU's get_config). */
  protected abstract fillConfig(config: Uint8Array): void;

  /** The guest wrote device configuration; `config` holds the written bytes (QEMU's set_config). */
  protected configWritten(_config: Uint8Array): void {}

  /** Device reset (QEMU's VirtioDeviceClass reset), run by the transport's reset. */
  protected resetDevice(): void {}

  /** The driver is setting the status register to `value` (QEMU's set_status), before it takes effect. */
  protected statusChanging(_value: number): void {}

  /** The guest kicked queue `queue`; rings are not modelled, so nothing is processed. */
  protected queueNotified(_queue: number): void {}

  /** What a legacy guest gets when it sets VIRTIO_F_BAD_FEATURE (QEMU's bad_features). */
  protected badFeatures(): bigint {
    return 0n;
  }

  /** Whether the driver negotiated feature `n`. */
  guestHas(n: number): boolean {
    return hasBit(this.guestFeatures, n);
  }

  get msixEnabled(): boolean {
    return this.msix?.enabled ?? false;
  }

  queueVector(queue: number): number {
    return queue < VIRTIO_QUEUE_MAX ? this.vqVector[queue]! : VIRTIO_NO_VECTOR;
  }

  queueSize(queue: number): number {
    return queue < VIRTIO_QUEUE_MAX ? this.vqNum[queue]! : 0;
  }

  /** The device used a buffer of `queue` (QEMU's virtio_notify): ISR bit 0, then the queue's vector. */
  notifyQueue(queue: number): void {
    if (!(queue >= 0 && queue < VIRTIO_QUEUE_MAX)) return;
    this.isr |= 1;
    this.notifyVector(this.vqVector[queue]!);
  }

  /** The device changed its configuration (QEMU's virtio_notify_config); ignored before DRIVER_OK. */
  notifyConfig(): void {
    if (!(this.status & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    this.isr |= 3;
    this.generation = (this.generation + 1) & 0xff;
    this.notifyVector(this.configVector);
  }

  /** QEMU's virtio_notify_vector + virtio_pci_notify: MSI-X when enabled, else INTx follows ISR bit 0. */
  private notifyVector(vector: number): void {
    if (this.broken || this.disabled) return;
    if (this.msix?.enabled) this.msix.notify(vector);
    else this.setIrq((this.isr & 1) !== 0);
  }

  // ---- realize helpers ----

  /** Common, ISR, device and notify structures in BAR 4, their capabilities, and the PCI cfg access capability. */
  private addModernInterface(pioNotify: boolean): void {
    const notifySize = this.notifyMultiplier * VIRTIO_QUEUE_MAX;
    const region = (offset: number, size: number, ops: RegionOps): ModernRegion => ({ offset, size, ops });
    const common = region(0, REGION_PAGE, { read: (o) => this.commonRead(o), write: (o, _s, v) => this.commonWrite(o, v) });
    const isr = region(REGION_PAGE, REGION_PAGE, { read: () => this.readIsr(), write: () => {} });
    const device = region(2 * REGION_PAGE, REGION_PAGE, {
      read: (o, s) => this.configRead(o, s),
      write: (o, s, v) => this.configWrite(o, s, v),
    });
    const notify = region(3 * REGION_PAGE, notifySize, { read: () => 0, write: (o) => this.kick(Math.floor(o / this.notifyMultiplier)) });
    this.modernRegions.push(common, isr, device, notify);
    const bar = this.defineBar(MODERN_MEM_BAR, {
      kind: "mem64",
      prefetchable: true,
      size: pow2ceil(3 * REGION_PAGE + notifySize),
      name: "virtio-pci",
    });
    const names = ["common", "isr", "device", "notify"];
    this.modernRegions.forEach((r, i) =>
      bar.contents.map(new Region(`virtio-pci-${names[i]}-${this.virtioName}`, r.size, r.ops, { owner: this.driver }), r.offset),
    );
    this.addVendorCap(VIRTIO_PCI_CAP_COMMON_CFG, MODERN_MEM_BAR, common);
    this.addVendorCap(VIRTIO_PCI_CAP_ISR_CFG, MODERN_MEM_BAR, isr);
    this.addVendorCap(VIRTIO_PCI_CAP_DEVICE_CFG, MODERN_MEM_BAR, device);
    this.addVendorCap(VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_MEM_BAR, notify, this.notifyMultiplier);
    if (pioNotify) {
      // The queue number is the value written, not the address.
      const pio = region(0, 4, { read: () => 0, write: (_o, _s, v) => this.kick(v) });
      this.modernRegions.push(pio);
      const ioBar = this.defineBar(MODERN_IO_BAR, { kind: "io", size: 4, name: "virtio-pci-io" });
      ioBar.contents.map(new Region(`virtio-pci-notify-pio-${this.virtioName}`, 4, pio.ops, { owner: this.driver }), 0);
      this.addVendorCap(VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_IO_BAR, pio, 0);
    }
    // The PCI cfg access capability: a window onto BAR 4 through config cycles.
    const at = this.capabilities.add(PCI_CAP_ID_VNDR, VIRTIO_PCI_CFG_CAP_SIZE);
    const s = this.config;
    s.set8(at + CAP_LEN, VIRTIO_PCI_CFG_CAP_SIZE);
    s.set8(at + CAP_CFG_TYPE, VIRTIO_PCI_CAP_PCI_CFG);
    s.wmask[at + CAP_BAR] = 0xff;
    s.wmask.fill(0xff, at + CAP_OFFSET, at + CAP_PCI_CFG_DATA + 4);
    this.cfgCap = at;
    this.function.onConfigWrite(at + CAP_PCI_CFG_DATA, 4, () => this.cfgWindow(true));
    // Reads through the window only do something once the guest gave it a length (1, 2 or 4).
    this.cfgWindowRead = this.function.onConfigRead(at + CAP_PCI_CFG_DATA, 4, () => this.cfgWindow(false), false);
    this.function.onConfigWrite(at + CAP_LENGTH, 4, () => this.armCfgWindow());
  }

  private addVendorCap(type: number, barIndex: number, r: ModernRegion, multiplier?: number): void {
    const size = multiplier === undefined ? VIRTIO_PCI_CAP_SIZE : VIRTIO_PCI_NOTIFY_CAP_SIZE;
    const at = this.capabilities.add(PCI_CAP_ID_VNDR, size);
    const s = this.config;
    s.set8(at + CAP_LEN, size);
    s.set8(at + CAP_CFG_TYPE, type);
    s.set8(at + CAP_BAR, barIndex);
    s.set32(at + CAP_OFFSET, r.offset);
    s.set32(at + CAP_LENGTH, r.size);
    if (multiplier !== undefined) s.set32(at + CAP_NOTIFY_MULTIPLIER, multiplier);
  }

  // ---- legacy interface (I/O BAR 0) ----

  private get legacyConfigOffset(): number {
    return this.msix?.enabled ? LEGACY_CONFIG_OFF_MSIX : LEGACY_CONFIG_OFF;
  }

  /** A header register answers only at its own offset (QEMU switches on the address); elsewhere all ones. */
  private legacyRead(offset: number, size: number): number {
    const header = this.legacyConfigOffset;
    if (offset >= header) return this.configRead(offset - header, size);
    switch (offset) {
      case LEGACY_HOST_FEATURES:
        return Number(this.hostFeatures & 0xffffffffn);
      case LEGACY_GUEST_FEATURES:
        return Number(this.guestFeatures & 0xffffffffn);
      case LEGACY_QUEUE_PFN:
        return this.queueSel < VIRTIO_QUEUE_MAX ? this.descPfn(this.queueSel) : 0;
      case LEGACY_QUEUE_NUM:
        return this.queueSize(this.queueSel);
      case LEGACY_QUEUE_SEL:
        return this.queueSel;
      case LEGACY_STATUS:
        return this.status;
      case LEGACY_ISR:
        return this.readIsr();
      case LEGACY_MSI_CONFIG_VECTOR:
        return this.configVector;
      case LEGACY_MSI_QUEUE_VECTOR:
        return this.queueVector(this.queueSel);
      default:
        return 0xffffffff;
    }
  }

  private legacyWrite(offset: number, size: number, value: number): void {
    const header = this.legacyConfigOffset;
    if (offset >= header) {
      this.configWrite(offset - header, size, value);
      return;
    }
    switch (offset) {
      case LEGACY_GUEST_FEATURES: {
        // A driver that sets the bad-feature bit did not negotiate: it gets the device's minimum.
        const features = value & (1 << VIRTIO_F_BAD_FEATURE) ? this.badFeatures() : BigInt(value >>> 0);
        this.setFeatures(features);
        break;
      }
      case LEGACY_QUEUE_PFN:
        if (value === 0) this.transportReset();
        else this.setQueueAddress(this.queueSel, value >>> 0);
        break;
      case LEGACY_QUEUE_SEL:
        if (value < VIRTIO_QUEUE_MAX) this.queueSel = value;
        break;
      case LEGACY_QUEUE_NOTIFY:
        this.kick(value);
        break;
      case LEGACY_STATUS:
        this.statusWritten(value);
        // Linux before 2.6.34 drove the device without enabling bus mastering: QEMU enables it.
        // (QEMU writes the bit with pci_default_write_config: virtio's own command hook does not run.)
        if (value === (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)) {
          const disabled = this.disabled;
          this.function.write(PCI_COMMAND, this.config.get8(PCI_COMMAND) | PCI_COMMAND_MASTER, 1, this.config.size);
          this.disabled = disabled;
        }
        break;
      case LEGACY_MSI_CONFIG_VECTOR:
        this.configVector = this.useVector(this.configVector, value);
        break;
      case LEGACY_MSI_QUEUE_VECTOR:
        this.setQueueVector(this.queueSel, this.useVector(this.queueVector(this.queueSel), value));
        break;
    }
  }

  // ---- modern interface (BAR 4) ----

  private commonRead(offset: number): number {
    const sel = this.queueSel;
    switch (offset) {
      case COMMON_DFSELECT:
        return this.dfselect;
      case COMMON_DF:
        return this.dfselect <= 1 ? Number(((this.hostFeatures & ~this.legacyOnly) >> BigInt(32 * this.dfselect)) & 0xffffffffn) : 0;
      case COMMON_GFSELECT:
        return this.gfselect;
      case COMMON_GF:
        return this.gfselect < 2 ? this.proxyGuestFeatures[this.gfselect]! : 0;
      case COMMON_MSIX:
        return this.configVector;
      case COMMON_NUMQ: {
        let n = 0;
        for (let q = 0; q < VIRTIO_QUEUE_MAX; q++) if (this.vqNum[q]) n = q + 1;
        return n;
      }
      case COMMON_STATUS:
        return this.status;
      case COMMON_CFGGENERATION:
        return this.generation;
      case COMMON_Q_SELECT:
        return sel;
      case COMMON_Q_SIZE:
        return this.vqNum[sel]!;
      case COMMON_Q_MSIX:
        return this.vqVector[sel]!;
      case COMMON_Q_ENABLE:
        return this.pqEnabled[sel]!;
      case COMMON_Q_NOFF:
        return sel; // queues notify at multiplier * index
      case COMMON_Q_RESET:
        return this.pqReset[sel]!;
      default:
        if (offset >= COMMON_Q_DESCLO && offset <= COMMON_Q_USEDHI && (offset & 3) === 0) {
          return this.pqRings[6 * sel + ((offset - COMMON_Q_DESCLO) >> 2)]!;
        }
        return 0;
    }
  }

  /** Each register takes the whole written value at its own offset, whatever the access size. */
  private commonWrite(offset: number, value: number): void {
    const sel = this.queueSel;
    switch (offset) {
      case COMMON_DFSELECT:
        this.dfselect = value >>> 0;
        break;
      case COMMON_GFSELECT:
        this.gfselect = value >>> 0;
        break;
      case COMMON_GF:
        if (this.gfselect < 2) {
          this.proxyGuestFeatures[this.gfselect] = value;
          this.setFeatures((BigInt(this.proxyGuestFeatures[1]!) << 32n) | BigInt(this.proxyGuestFeatures[0]!));
        }
        break;
      case COMMON_MSIX:
        this.configVector = this.useVector(this.configVector, value);
        break;
      case COMMON_STATUS:
        this.statusWritten(value);
        break;
      case COMMON_Q_SELECT:
        if (value < VIRTIO_QUEUE_MAX) this.queueSel = value;
        break;
      case COMMON_Q_SIZE:
        this.pqNum[sel] = value;
        this.setQueueNum(sel, this.pqNum[sel]!);
        break;
      case COMMON_Q_MSIX:
        this.setQueueVector(sel, this.useVector(this.vqVector[sel]!, value));
        break;
      case COMMON_Q_ENABLE:
        if (value === 1) {
          this.setQueueNum(sel, this.pqNum[sel]!);
          if (this.vqNum[sel]) {
            this.vqDesc[2 * sel] = this.pqRings[6 * sel]!;
            this.vqDesc[2 * sel + 1] = this.pqRings[6 * sel + 1]!;
          }
          this.pqEnabled[sel] = 1;
        } else {
          this.virtioError();
        }
        break;
      case COMMON_Q_RESET:
        if (value === 1) {
          this.resetQueue(sel);
          this.pqEnabled[sel] = 0;
        }
        break;
      default:
        if (offset >= COMMON_Q_DESCLO && offset <= COMMON_Q_USEDHI && (offset & 3) === 0) {
          this.pqRings[6 * sel + ((offset - COMMON_Q_DESCLO) >> 2)] = value;
        }
    }
  }

  /** Reading the ISR returns and clears it, and drops INTx. */
  private readIsr(): number {
    const v = this.isr;
    this.isr = 0;
    this.setIrq(false);
    return v;
  }

  // ---- device configuration (legacy after the header, modern in BAR 4) ----

  /**
   * Reads past the configuration's end return all ones, as wide as the access; others refresh
   * the buffer first. Only such reads refresh it: a write lands in the buffer as last read (zeros
   * before the first read) and the device takes the whole buffer, as QEMU's set_config does.
   */
  private configRead(offset: number, size: number): number {
    const config = this.configBytes;
    if (offset + size > config.length) return 0xffffffff;
    this.fillConfig(config);
    return getLe(config, offset, size);
  }

  private configWrite(offset: number, size: number, value: number): void {
    const config = this.configBytes;
    if (offset + size > config.length) return;
    setLe(config, offset, value, size);
    this.configWritten(config);
  }

  // ---- the PCI cfg access capability ----

  /** Moves 1, 2 or 4 bytes between pci_cfg_data and the modern region at the capability's offset. */
  private armCfgWindow(): void {
    const len = this.config.get32(this.cfgCap + CAP_LENGTH);
    this.cfgWindowRead?.arm(len === 1 || len === 2 || len === 4);
  }

  private cfgWindow(write: boolean): void {
    const s = this.config;
    const len = s.get32(this.cfgCap + CAP_LENGTH);
    if (len !== 1 && len !== 2 && len !== 4) return;
    let offset = s.get32(this.cfgCap + CAP_OFFSET) & ~(len - 1);
    // QEMU looks the offset up among the regions in order and ignores the capability's BAR field.
    const r = this.modernRegions.find((m) => offset >= m.offset && offset + len <= m.offset + m.size);
    if (!r) return;
    offset -= r.offset;
    const data = this.cfgCap + CAP_PCI_CFG_DATA;
    if (write) r.ops.write(offset, len, getLe(s.config, data, len));
    else setLe(s.config, data, r.ops.read(offset, len), len);
  }

  // ---- device state ----

  private setFeatures(features: bigint): void {
    // Feature negotiation is over once FEATURES_OK is set.
    if (this.status & VIRTIO_CONFIG_S_FEATURES_OK) return;
    this.guestFeatures = features & this.hostFeatures;
  }

  private statusWritten(value: number): void {
    this.setStatus(value & 0xff);
    if (this.status === 0) this.transportReset();
  }

  /** QEMU's virtio_set_status: FEATURES_OK is refused when the driver dropped IOMMU_PLATFORM. */
  private setStatus(value: number): void {
    if (
      this.guestHas(VIRTIO_F_VERSION_1) &&
      !(this.status & VIRTIO_CONFIG_S_FEATURES_OK) &&
      value & VIRTIO_CONFIG_S_FEATURES_OK &&
      hasBit(this.hostFeatures, VIRTIO_F_IOMMU_PLATFORM) &&
      !this.guestHas(VIRTIO_F_IOMMU_PLATFORM)
    ) {
      return;
    }
    this.statusChanging(value);
    this.status = value;
  }

  /**
   * msix_vector_unuse of the old vector, msix_vector_use of the new one; a refused vector reads
   * as none. The whole written value counts: a dword write of 0x10003 is vector 0x10003, refused.
   */
  private useVector(old: number, value: number): number {
    this.msix?.unuse(old);
    return this.msix?.use(value >>> 0) ? value : VIRTIO_NO_VECTOR;
  }

  private setQueueVector(queue: number, vector: number): void {
    if (queue < VIRTIO_QUEUE_MAX) this.vqVector[queue] = vector;
  }

  /** A queue cannot be created or removed by the guest, nor grow past 1024 entries. */
  private setQueueNum(queue: number, num: number): void {
    if ((num !== 0) !== (this.vqNum[queue] !== 0) || num > VIRTQUEUE_MAX_SIZE) return;
    this.vqNum[queue] = num;
  }

  private setQueueAddress(queue: number, pfn: number): void {
    if (!this.vqNum[queue]) return;
    this.vqDesc[2 * queue] = (pfn << VIRTIO_PCI_QUEUE_ADDR_SHIFT) >>> 0;
    this.vqDesc[2 * queue + 1] = pfn >>> (32 - VIRTIO_PCI_QUEUE_ADDR_SHIFT);
  }

  private descPfn(queue: number): number {
    return (
      ((this.vqDesc[2 * queue + 1]! << (32 - VIRTIO_PCI_QUEUE_ADDR_SHIFT)) | (this.vqDesc[2 * queue]! >>> VIRTIO_PCI_QUEUE_ADDR_SHIFT)) >>>
      0
    );
  }

  private kick(queue: number): void {
    if (queue >= 0 && queue < VIRTIO_QUEUE_MAX) this.queueNotified(queue);
  }

  private resetQueue(queue: number): void {
    this.vqDesc[2 * queue] = 0;
    this.vqDesc[2 * queue + 1] = 0;
    this.vqVector[queue] = VIRTIO_NO_VECTOR;
    this.vqNum[queue] = this.vqNumDefault[queue]!;
  }

  /** QEMU's virtio_error: a virtio 1.0 driver sees NEEDS_RESET (and a config interrupt); the device stops. */
  private virtioError(): void {
    if (this.guestHas(VIRTIO_F_VERSION_1)) {
      this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
      this.notifyConfig();
    }
    this.broken = true;
  }

  /** QEMU's virtio_pci_reset: the device (virtio_reset), its queues, MSI-X vector use, the modern queue registers. */
  private transportReset(): void {
    this.status = 0;
    this.resetDevice();
    this.broken = false;
    this.guestFeatures = 0n;
    this.queueSel = 0;
    this.disabled = false;
    this.isr = 0;
    this.configVector = VIRTIO_NO_VECTOR;
    this.notifyVector(VIRTIO_NO_VECTOR);
    for (let q = 0; q < VIRTIO_QUEUE_MAX; q++) this.resetQueue(q);
    this.msix?.unuseAll();
    this.pqNum.fill(0);
    this.pqEnabled.fill(0);
    this.pqReset.fill(0);
    this.pqRings.fill(0);
  }

  /** Clearing bus mastering takes DRIVER_OK away and, with use-disabled-flag, silences the device. */
  private commandWritten(): void {
    const master = (this.config.get8(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0;
    if (this.useDisabledFlag) this.disabled = !master;
    if (!master) this.setStatus(this.status & ~VIRTIO_CONFIG_S_DRIVER_OK);
  }

  protected override resetRegisters(): void {
    this.transportReset();
  }

  /** Registers, features and queue state: what a guest driver set up. */
  private statePart(): StatePart {
    const QUEUE_BYTES = 2 + 2 + 8 + 2 + 2 + 1 + 1 + 24;
    return {
      name: "virtio",
      version: 1,
      save: () => {
        const queues: number[] = [];
        for (let q = 0; q < VIRTIO_QUEUE_MAX; q++) if (!this.queueIsPristine(q)) queues.push(q);
        const out = new Uint8Array(40 + 2 + queues.length * (2 + QUEUE_BYTES));
        const v = new DataView(out.buffer);
        v.setBigUint64(0, this.guestFeatures);
        v.setUint8(8, this.status);
        v.setUint8(9, this.isr);
        v.setUint16(10, this.queueSel);
        v.setUint16(12, this.configVector);
        v.setUint8(14, this.generation);
        v.setUint8(15, (this.broken ? 1 : 0) | (this.disabled ? 2 : 0));
        v.setUint32(16, this.dfselect);
        v.setUint32(20, this.gfselect);
        v.setUint32(24, this.proxyGuestFeatures[0]!);
        v.setUint32(28, this.proxyGuestFeatures[1]!);
        v.setUint16(40, queues.length);
        let at = 42;
        for (const q of queues) {
          v.setUint16(at, q);
          v.setUint16(at + 2, this.vqNum[q]!);
          v.setUint16(at + 4, this.pqNum[q]!);
          v.setUint32(at + 6, this.vqDesc[2 * q]!);
          v.setUint32(at + 10, this.vqDesc[2 * q + 1]!);
          v.setUint16(at + 14, this.vqVector[q]!);
          v.setUint8(at + 18, this.pqEnabled[q]!);
          v.setUint8(at + 19, this.pqReset[q]!);
          for (let i = 0; i < 6; i++) v.setUint32(at + 20 + 4 * i, this.pqRings[6 * q + i]!);
          at += 2 + QUEUE_BYTES;
        }
        return out;
      },
      check: (bytes, version) => {
        if (version !== 1) return `virtio state version ${version} is unknown (this machbus writes 1)`;
        if (bytes.length < 42) return `virtio state of ${bytes.length} bytes is truncated`;
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const n = v.getUint16(40);
        if (bytes.length !== 42 + n * (2 + QUEUE_BYTES)) return `virtio state of ${bytes.length} bytes does not hold its ${n} queues`;
        for (let i = 0; i < n; i++) {
          const q = v.getUint16(42 + i * (2 + QUEUE_BYTES));
          if (q >= VIRTIO_QUEUE_MAX) return `virtio state names queue ${q}; queues go up to ${VIRTIO_QUEUE_MAX - 1}`;
          const num = v.getUint16(42 + i * (2 + QUEUE_BYTES) + 2);
          if ((num !== 0) !== (this.vqNumDefault[q] !== 0))
            return `virtio state has queue ${q} ${num ? "in use" : "absent"}, which this device ${num ? "does not have" : "has"}`;
        }
        return null;
      },
      load: (bytes) => {
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let q = 0; q < VIRTIO_QUEUE_MAX; q++) this.resetQueue(q);
        this.pqNum.fill(0);
        this.pqEnabled.fill(0);
        this.pqReset.fill(0);
        this.pqRings.fill(0);
        this.guestFeatures = v.getBigUint64(0);
        this.status = v.getUint8(8);
        this.isr = v.getUint8(9);
        this.queueSel = v.getUint16(10);
        this.configVector = v.getUint16(12);
        this.generation = v.getUint8(14);
        this.broken = (v.getUint8(15) & 1) !== 0;
        this.disabled = (v.getUint8(15) & 2) !== 0;
        this.dfselect = v.getUint32(16);
        this.gfselect = v.getUint32(20);
        this.proxyGuestFeatures[0] = v.getUint32(24);
        this.proxyGuestFeatures[1] = v.getUint32(28);
        const n = v.getUint16(40);
        let at = 42;
        for (let i = 0; i < n; i++, at += 2 + QUEUE_BYTES) {
          const q = v.getUint16(at);
          this.vqNum[q] = v.getUint16(at + 2);
          this.pqNum[q] = v.getUint16(at + 4);
          this.vqDesc[2 * q] = v.getUint32(at + 6);
          this.vqDesc[2 * q + 1] = v.getUint32(at + 10);
          this.vqVector[q] = v.getUint16(at + 14);
          this.pqEnabled[q] = v.getUint8(at + 18);
          this.pqReset[q] = v.getUint8(at + 19);
          for (let k = 0; k < 6; k++) this.pqRings[6 * q + k] = v.getUint32(at + 20 + 4 * k);
        }
        this.armCfgWindow(); // the config bytes, loaded before this part, hold the window's length
      },
    };
  }

  private queueIsPristine(q: number): boolean {
    const rings = this.pqRings.subarray(6 * q, 6 * q + 6);
    return (
      this.vqNum[q] === this.vqNumDefault[q] &&
      this.pqNum[q] === 0 &&
      this.vqDesc[2 * q] === 0 &&
      this.vqDesc[2 * q + 1] === 0 &&
      this.vqVector[q] === VIRTIO_NO_VECTOR &&
      this.pqEnabled[q] === 0 &&
      this.pqReset[q] === 0 &&
      rings.every((x) => x === 0)
    );
  }
}

/**
 * Which interfaces the device gets and what it offers (QEMU's virtio_pci_realize and
 * virtio_bus_device_plugged), with QEMU's errors; and the PCI identity that follows.
 */
function planTransport(props: VirtioPciProps, spec: VirtioSpec) {
  const legacy = props["disable-legacy"] !== "on";
  let modern = !props["disable-modern"];
  if (!legacy && !modern) {
    throw new MachbusError(
      "bad-property-value",
      "device cannot work as neither modern nor legacy mode is enabled (set either disable-modern or disable-legacy to off)",
    );
  }
  let offered = bit(VIRTIO_F_BAD_FEATURE);
  if (modern) offered |= bit(VIRTIO_F_VERSION_1);
  const common: [boolean, number][] = [
    [props.indirect_desc, VIRTIO_RING_F_INDIRECT_DESC],
    [props.event_idx, VIRTIO_RING_F_EVENT_IDX],
    [props.notify_on_empty, VIRTIO_F_NOTIFY_ON_EMPTY],
    [props.any_layout, VIRTIO_F_ANY_LAYOUT],
    [props.iommu_platform, VIRTIO_F_IOMMU_PLATFORM],
    [props.packed, VIRTIO_F_RING_PACKED],
    [props.queue_reset, VIRTIO_F_RING_RESET],
  ];
  for (const [on, n] of common) if (on) offered |= bit(n);
  const hostFeatures = spec.features(offered);
  // Virtio capabilities without VERSION_1 confuse guests: such a backend loses the modern interface.
  if (!props["x-ignore-backend-features"] && !hasBit(hostFeatures, VIRTIO_F_VERSION_1)) {
    modern = false;
    if (!legacy)
      throw new MachbusError(
        "bad-property-value",
        "Device doesn't support modern mode, and legacy mode is disabled (set disable-legacy to off)",
      );
  }
  if (legacy && hasBit(hostFeatures, VIRTIO_F_IOMMU_PLATFORM)) {
    throw new MachbusError("bad-property-value", "VIRTIO_F_IOMMU_PLATFORM was supported by neither legacy nor transitional device");
  }
  const identity = legacy
    ? {
        vendorId: 0x1af4,
        deviceId: spec.transitionalDeviceId,
        classCode: spec.classCode,
        subsystemVendorId: 0x1af4,
        subsystemId: spec.virtioId,
        interruptPin: 1,
      }
    : { vendorId: 0x1af4, deviceId: 0x1040 + spec.virtioId, classCode: spec.classCode, revision: 1, interruptPin: 1 };
  return { legacy, modern, hostFeatures, identity };
}

export function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
