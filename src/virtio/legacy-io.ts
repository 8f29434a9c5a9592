import type { RegionOps } from "../memory/address-space.js";
import { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_F_BAD_FEATURE, VIRTIO_QUEUE_MAX, pow2ceil } from "./constants.js";
import type { VirtioCore } from "./core.js";

/** The legacy header in I/O BAR 0 (VIRTIO_PCI_*); device configuration follows it. */
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
/** Device configuration starts at 20, or at 24 while MSI-X is enabled (the two vector registers sit between). */
const LEGACY_CONFIG_OFF = 20;
const LEGACY_CONFIG_OFF_MSIX = 24;

/** I/O BAR 0's size: the header (with the MSI-X vector registers when the device has MSI-X) and the configuration, to a power of two. */
export function legacyBarSize(withMsix: boolean, configSize: number): number {
  return pow2ceil((withMsix ? LEGACY_CONFIG_OFF_MSIX : LEGACY_CONFIG_OFF) + configSize);
}

/**
 * The legacy (virtio 0.9.5) interface: the header registers, then the device configuration. A
 * header register answers only at its own offset (QEMU switches on the address); elsewhere reads
 * are all ones.
 */
export class LegacyIo implements RegionOps {
  constructor(private readonly core: VirtioCore) {}

  private get configOffset(): number {
    return this.core.msixEnabled ? LEGACY_CONFIG_OFF_MSIX : LEGACY_CONFIG_OFF;
  }

  read(offset: number, size: number): number {
    const core = this.core;
    const header = this.configOffset;
    if (offset >= header) return core.configRead(offset - header, size);
    const { regs, queues } = core;
    switch (offset) {
      case LEGACY_HOST_FEATURES:
        return Number(core.hostFeatures & 0xffffffffn);
      case LEGACY_GUEST_FEATURES:
        return Number(regs.guestFeatures & 0xffffffffn);
      case LEGACY_QUEUE_PFN:
        return regs.queueSel < VIRTIO_QUEUE_MAX ? queues.pfn(regs.queueSel) : 0;
      case LEGACY_QUEUE_NUM:
        return queues.size(regs.queueSel);
      case LEGACY_QUEUE_SEL:
        return regs.queueSel;
      case LEGACY_STATUS:
        return regs.status;
      case LEGACY_ISR:
        return core.readIsr();
      case LEGACY_MSI_CONFIG_VECTOR:
        return regs.configVector;
      case LEGACY_MSI_QUEUE_VECTOR:
        return queues.vectorOf(regs.queueSel);
      default:
        return 0xffffffff;
    }
  }

  write(offset: number, size: number, value: number): void {
    const core = this.core;
    const header = this.configOffset;
    if (offset >= header) {
      core.configWrite(offset - header, size, value);
      return;
    }
    const { regs, queues } = core;
    switch (offset) {
      case LEGACY_GUEST_FEATURES: {
        // A driver that sets the bad-feature bit did not negotiate: it gets the device's minimum.
        const features = value & (1 << VIRTIO_F_BAD_FEATURE) ? core.badFeatures() : BigInt(value >>> 0);
        core.setFeatures(features);
        break;
      }
      case LEGACY_QUEUE_PFN:
        if (value === 0) core.reset();
        else queues.setPfn(regs.queueSel, value >>> 0);
        break;
      case LEGACY_QUEUE_SEL:
        if (value < VIRTIO_QUEUE_MAX) regs.queueSel = value;
        break;
      case LEGACY_QUEUE_NOTIFY:
        core.kick(value);
        break;
      case LEGACY_STATUS:
        core.statusWritten(value);
        // Linux before 2.6.34 drove the device without enabling bus mastering: QEMU enables it.
        if (value === (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)) core.enableBusMaster();
        break;
      case LEGACY_MSI_CONFIG_VECTOR:
        regs.configVector = core.useVector(regs.configVector, value);
        break;
      case LEGACY_MSI_QUEUE_VECTOR:
        queues.setVector(regs.queueSel, core.useVector(queues.vectorOf(regs.queueSel), value));
        break;
    }
  }
}
