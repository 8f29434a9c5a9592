import { MachbusError } from "../errors.js";
import type { PciBus } from "../pci/bus.js";
import {
  PCI_CAP_ID_PM,
  PCI_COMMAND,
  PCI_COMMAND_MASTER,
  PCI_PM_CTRL,
  PCI_PM_CTRL_STATE_MASK,
  PCI_PM_PMC,
  PCI_PM_SIZEOF,
} from "../pci/constants.js";
import { getLe, setLe } from "../pci/config-space.js";
import { PciDevice } from "../pci/device.js";
import { MSIX_MAX_VECTORS, Msix } from "../pci/msix.js";
import { endpointCapability, type PcieCapability } from "../pci/pcie.js";
import { bool, describeState, struct, u16, u32, u32Array, u64, u8 } from "../state/description.js";
import { CommonConfig, type CommonConfigRegisters } from "./common-config.js";
import {
  LEGACY_ONLY_FEATURES,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_BAD_FEATURE,
  VIRTIO_F_IOMMU_PLATFORM,
  VIRTIO_F_NOTIFY_ON_EMPTY,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_RING_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_NO_VECTOR,
  VIRTIO_QUEUE_MAX,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  bit,
  hasBit,
} from "./constants.js";
import type { VirtioCore, VirtioRegisters } from "./core.js";
import { LegacyIo, legacyBarSize } from "./legacy-io.js";
import { ModernInterface } from "./modern-interface.js";
import type { VirtioPciProps } from "./properties.js";
import { VirtQueues, modernQueueTable, queueTable } from "./queues.js";

/*
 * The virtio-pci transport (QEMU's hw/virtio/virtio-pci.c plus the register half of virtio.c),
 * shared by the virtio-*-pci drivers in devices/. This file wires the interfaces together and
 * holds the device half's registers; the register blocks are their own files: legacy-io.ts (I/O
 * BAR 0), common-config.ts and modern-interface.ts (BAR 4 and the vendor capabilities),
 * queues.ts (per-queue registers).
 */

const MSIX_BAR = 1;
const LEGACY_IO_BAR = 0;
const PAGE_PER_VQ_MULTIPLIER = 0x1000;
const NOTIFY_MULTIPLIER = 4;

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
  /** The bus the device is being plugged into (PLUG_BUS): below a PCIe port it is PCI Express and modern only. */
  readonly bus: PciBus;
}

/** What a snapshot keeps of the transport: the device half, the queues, and (modern devices) the common configuration. */
interface VirtioState {
  readonly device: VirtioRegisters;
  readonly queues: VirtQueues;
  readonly common: CommonConfigRegisters;
  readonly modern: boolean;
}

const VIRTIO_STATE = describeState<VirtioState>({
  name: "virtio",
  version: 1,
  fields: [
    struct("device", [
      u64("guestFeatures"),
      u8("status"),
      u8("isr"),
      u16("queueSel", {
        check: (sel) => (sel < VIRTIO_QUEUE_MAX ? null : `virtio state selects queue ${sel}; queues go up to ${VIRTIO_QUEUE_MAX - 1}`),
      }),
      u16("configVector"),
      u8("generation"),
      bool("broken"),
      bool("disabled"),
    ]),
    struct("queues", [queueTable]),
  ],
  subsections: [
    // QEMU's virtio_pci/modern_state: only devices with the modern interface have these registers.
    describeState<VirtioState>({
      name: "modern",
      version: 1,
      needed: (s) => s.modern,
      fields: [struct("common", [u32("dfselect"), u32("gfselect"), u32Array("guestFeatures")]), struct("queues", [modernQueueTable])],
    }),
  ],
});

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
  /** The MSI-X vectors the device asked for (QEMU's nvectors after realize). */
  readonly vectors: number;

  private readonly regs: VirtioRegisters = {
    guestFeatures: 0n,
    status: 0,
    isr: 0,
    queueSel: 0,
    configVector: VIRTIO_NO_VECTOR,
    generation: 0,
    broken: false,
    disabled: false,
  };
  private readonly queues: VirtQueues;
  /** Device configuration as last filled or written (vdev->config). */
  protected readonly configBytes: Uint8Array;
  private readonly useDisabledFlag: boolean;
  private readonly modernInterface: ModernInterface | null = null;
  private expressCap: PcieCapability | null = null;
  private pmCap = 0;

  protected constructor(props: VirtioPciProps, spec: VirtioSpec) {
    const plan = planTransport(props, spec);
    super(plan.identity, props);
    if (plan.identity.express) this.addExpressCapabilities(props, spec.bus);
    this.legacy = plan.legacy;
    this.modern = plan.modern;
    this.hostFeatures = plan.hostFeatures;
    this.virtioName = spec.name;
    this.vectors = spec.vectors;
    this.useDisabledFlag = props["use-disabled-flag"];
    this.configBytes = new Uint8Array(spec.configSize);
    this.queues = new VirtQueues(spec.queueSizes);
    const core = this.core();
    const common = new CommonConfig(core, LEGACY_ONLY_FEATURES | (spec.legacyOnlyFeatures ?? 0n));
    if (this.modern) {
      this.modernInterface = new ModernInterface(this, core, common, {
        virtioName: spec.name,
        notifyMultiplier: props["page-per-vq"] ? PAGE_PER_VQ_MULTIPLIER : NOTIFY_MULTIPLIER,
        pioNotify: props["modern-pio-notify"],
      });
    }
    // msix_init_exclusive_bar refuses more than 2048 vectors; QEMU warns and goes on without MSI-X.
    this.msix =
      spec.vectors > 0 && spec.vectors <= MSIX_MAX_VECTORS
        ? Msix.exclusiveBar(this, spec.vectors, MSIX_BAR, { name: `${this.driver}-msix` })
        : null;
    if (spec.vectors > MSIX_MAX_VECTORS) this.buildWarnings = [`unable to init msix vectors to ${spec.vectors}`];
    if (this.legacy) {
      this.defineBar(LEGACY_IO_BAR, {
        kind: "io",
        size: legacyBarSize(this.msix !== null, spec.configSize),
        name: "virtio-pci",
        ops: new LegacyIo(core),
        regionOptions: { owner: this.driver },
      });
    }
    this.function.onConfigWrite(PCI_COMMAND, 1, () => this.commandWritten());
    this.function.keepState(VIRTIO_STATE, { device: this.regs, queues: this.queues, common: common.regs, modern: this.modern });
  }

  /** What QEMU's realize writes back into the proxy's properties, as `info qtree` shows them. */
  qtreeValues(): Record<string, unknown> {
    const values: Record<string, unknown> = { "disable-legacy": this.legacy ? "off" : "on" };
    if ("vectors" in this.props) values.vectors = this.vectors;
    return values;
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
    return hasBit(this.regs.guestFeatures, n);
  }

  get msixEnabled(): boolean {
    return this.msix?.enabled ?? false;
  }

  queueVector(queue: number): number {
    return this.queues.vectorOf(queue);
  }

  queueSize(queue: number): number {
    return this.queues.size(queue);
  }

  /** The device used a buffer of `queue` (QEMU's virtio_notify): ISR bit 0, then the queue's vector. */
  notifyQueue(queue: number): void {
    if (!(queue >= 0 && queue < VIRTIO_QUEUE_MAX)) return;
    this.regs.isr |= 1;
    this.notifyVector(this.queues.vector[queue]!);
  }

  /** The device changed its configuration (QEMU's virtio_notify_config); ignored before DRIVER_OK. */
  notifyConfig(): void {
    const regs = this.regs;
    if (!(regs.status & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    regs.isr |= 3;
    regs.generation = (regs.generation + 1) & 0xff;
    this.notifyVector(regs.configVector);
  }

  /** QEMU's virtio_notify_vector + virtio_pci_notify: MSI-X when enabled, else INTx follows ISR bit 0. */
  private notifyVector(vector: number): void {
    if (this.regs.broken || this.regs.disabled) return;
    if (this.msix?.enabled) this.msix.notify(vector);
    else this.setIrq((this.regs.isr & 1) !== 0);
  }

  /** What the register blocks may use: the device half's registers and its operations. */
  private core(): VirtioCore {
    const msixEnabled = (): boolean => this.msixEnabled;
    return {
      hostFeatures: this.hostFeatures,
      regs: this.regs,
      queues: this.queues,
      get msixEnabled() {
        return msixEnabled();
      },
      setFeatures: (features) => this.setFeatures(features),
      badFeatures: () => this.badFeatures(),
      statusWritten: (value) => this.statusWritten(value),
      readIsr: () => this.readIsr(),
      useVector: (old, value) => this.useVector(old, value),
      virtioError: () => this.virtioError(),
      reset: () => this.transportReset(),
      kick: (queue) => {
        if (queue >= 0 && queue < VIRTIO_QUEUE_MAX) this.queueNotified(queue);
      },
      configRead: (offset, size) => this.configRead(offset, size),
      configWrite: (offset, size, value) => this.configWrite(offset, size, value),
      // QEMU writes the bit with pci_default_write_config: virtio's own command hook does not run.
      enableBusMaster: () => {
        const disabled = this.regs.disabled;
        this.function.write(PCI_COMMAND, this.config.get8(PCI_COMMAND) | PCI_COMMAND_MASTER, 1, this.config.size);
        this.regs.disabled = disabled;
      },
    };
  }

  /** Reading the ISR returns and clears it, and drops INTx. */
  private readIsr(): number {
    const v = this.regs.isr;
    this.regs.isr = 0;
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

  // ---- device state ----

  private setFeatures(features: bigint): void {
    // Feature negotiation is over once FEATURES_OK is set.
    if (this.regs.status & VIRTIO_CONFIG_S_FEATURES_OK) return;
    this.regs.guestFeatures = features & this.hostFeatures;
  }

  private statusWritten(value: number): void {
    this.setStatus(value & 0xff);
    if (this.regs.status === 0) this.transportReset();
  }

  /** QEMU's virtio_set_status: FEATURES_OK is refused when the driver dropped IOMMU_PLATFORM. */
  private setStatus(value: number): void {
    if (
      this.guestHas(VIRTIO_F_VERSION_1) &&
      !(this.regs.status & VIRTIO_CONFIG_S_FEATURES_OK) &&
      value & VIRTIO_CONFIG_S_FEATURES_OK &&
      hasBit(this.hostFeatures, VIRTIO_F_IOMMU_PLATFORM) &&
      !this.guestHas(VIRTIO_F_IOMMU_PLATFORM)
    ) {
      return;
    }
    this.statusChanging(value);
    this.regs.status = value;
  }

  /**
   * msix_vector_unuse of the old vector, msix_vector_use of the new one; a refused vector reads
   * as none. The whole written value counts: a dword write of 0x10003 is vector 0x10003, refused.
   */
  private useVector(old: number, value: number): number {
    this.msix?.unuse(old);
    return this.msix?.use(value >>> 0) ? value : VIRTIO_NO_VECTOR;
  }

  /** QEMU's virtio_error: a virtio 1.0 driver sees NEEDS_RESET (and a config interrupt); the device stops. */
  protected virtioError(): void {
    if (this.guestHas(VIRTIO_F_VERSION_1)) {
      this.regs.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
      this.notifyConfig();
    }
    this.regs.broken = true;
  }

  /** QEMU's virtio_pci_reset: the device (virtio_reset), its queues, MSI-X vector use, the modern queue registers. */
  private transportReset(): void {
    const regs = this.regs;
    regs.status = 0;
    this.resetDevice();
    regs.broken = false;
    regs.guestFeatures = 0n;
    regs.queueSel = 0;
    regs.disabled = false;
    regs.isr = 0;
    regs.configVector = VIRTIO_NO_VECTOR;
    this.notifyVector(VIRTIO_NO_VECTOR);
    this.queues.resetAll();
    this.msix?.unuseAll();
  }

  /** Clearing bus mastering takes DRIVER_OK away and, with use-disabled-flag, silences the device. */
  private commandWritten(): void {
    const master = (this.config.get8(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0;
    if (this.useDisabledFlag) this.regs.disabled = !master;
    if (!master) this.setStatus(this.regs.status & ~VIRTIO_CONFIG_S_DRIVER_OK);
  }

  /**
   * QEMU's virtio_pci_realize below a PCIe port: the PCIe capability (version 2, an endpoint), power
   * management (D0/D3hot, PMC version 1.2), then what the x-pcie-* properties enable: error
   * reporting, link control, the PM state field and function level reset. Before the virtio capabilities.
   */
  private addExpressCapabilities(props: VirtioPciProps, bus: PciBus): void {
    this.expressCap = endpointCapability(this, bus, { version: 2 });
    const pm = this.capabilities.add(PCI_CAP_ID_PM, PCI_PM_SIZEOF);
    this.pmCap = pm;
    this.config.set16(pm + PCI_PM_PMC, 0x3);
    if (props["x-pcie-deverr-init"]) this.expressCap.deverrInit();
    if (props["x-pcie-lnkctl-init"]) this.expressCap.lnkctlInit();
    if (props["x-pcie-pm-init"]) setLe(this.config.wmask, pm + PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK, 2);
    if (props["x-pcie-flr-init"]) this.expressCap.flrInit(() => this.reset());
  }

  protected override resetRegisters(): void {
    this.transportReset();
    if (this.expressCap) {
      this.expressCap.deverrReset();
      this.expressCap.lnkctlReset();
      this.config.set16(this.pmCap + PCI_PM_CTRL, 0);
    }
  }

  /** The cfg window's read hook follows the loaded capability length. */
  override stateLoaded(): void {
    this.modernInterface?.armCfgWindow();
  }
}

/**
 * Which interfaces the device gets and what it offers (QEMU's virtio_pci_realize and
 * virtio_bus_device_plugged), with QEMU's errors; and the PCI identity that follows.
 */
function planTransport(props: VirtioPciProps, spec: VirtioSpec) {
  // Below a PCIe port (not on a PCIe root bus) "auto" means modern only.
  const pciePort = spec.bus.express && !spec.bus.isRoot;
  const legacy = props["disable-legacy"] === "auto" ? !pciePort : props["disable-legacy"] === "off";
  const express = pciePort && !props["disable-modern"] && !props["x-disable-pcie"];
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
  return { legacy, modern, hostFeatures, identity: { ...identity, express } };
}
