import type { RegionOps } from "../memory/address-space.js";
import { VIRTIO_QUEUE_MAX } from "./constants.js";
import type { VirtioCore } from "./core.js";

/** struct virtio_pci_common_cfg. */
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

/** The modern interface's own registers (QEMU's proxy->dfselect, gfselect, guest_features[2]). */
export interface CommonConfigRegisters {
  dfselect: number;
  gfselect: number;
  readonly guestFeatures: Uint32Array;
}

/**
 * The modern common configuration structure (BAR 4, first page): feature windows, status, and
 * the selected queue's registers. Each register takes the whole written value at its own
 * offset, whatever the access size. A transport reset leaves the feature selectors and halves
 * alone, as QEMU's virtio_pci_reset does.
 */
export class CommonConfig implements RegionOps {
  readonly regs: CommonConfigRegisters = { dfselect: 0, gfselect: 0, guestFeatures: new Uint32Array(2) };

  constructor(
    private readonly core: VirtioCore,
    /** Features device_feature hides (legacy only). */
    private readonly legacyOnly: bigint,
  ) {}

  read(offset: number): number {
    const { core, regs } = this;
    const sel = core.regs.queueSel;
    const q = core.queues;
    switch (offset) {
      case COMMON_DFSELECT:
        return regs.dfselect;
      case COMMON_DF:
        return regs.dfselect <= 1 ? Number(((core.hostFeatures & ~this.legacyOnly) >> BigInt(32 * regs.dfselect)) & 0xffffffffn) : 0;
      case COMMON_GFSELECT:
        return regs.gfselect;
      case COMMON_GF:
        return regs.gfselect < 2 ? regs.guestFeatures[regs.gfselect]! : 0;
      case COMMON_MSIX:
        return core.regs.configVector;
      case COMMON_NUMQ:
        return q.count;
      case COMMON_STATUS:
        return core.regs.status;
      case COMMON_CFGGENERATION:
        return core.regs.generation;
      case COMMON_Q_SELECT:
        return sel;
      case COMMON_Q_SIZE:
        return q.num[sel]!;
      case COMMON_Q_MSIX:
        return q.vector[sel]!;
      case COMMON_Q_ENABLE:
        return q.enabled[sel]!;
      case COMMON_Q_NOFF:
        return sel; // queues notify at multiplier * index
      case COMMON_Q_RESET:
        return q.queueReset[sel]!;
      default:
        if (offset >= COMMON_Q_DESCLO && offset <= COMMON_Q_USEDHI && (offset & 3) === 0) {
          return q.rings[6 * sel + ((offset - COMMON_Q_DESCLO) >> 2)]!;
        }
        return 0;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const { core, regs } = this;
    const sel = core.regs.queueSel;
    const q = core.queues;
    switch (offset) {
      case COMMON_DFSELECT:
        regs.dfselect = value >>> 0;
        break;
      case COMMON_GFSELECT:
        regs.gfselect = value >>> 0;
        break;
      case COMMON_GF:
        if (regs.gfselect < 2) {
          regs.guestFeatures[regs.gfselect] = value;
          core.setFeatures((BigInt(regs.guestFeatures[1]!) << 32n) | BigInt(regs.guestFeatures[0]!));
        }
        break;
      case COMMON_MSIX:
        core.regs.configVector = core.useVector(core.regs.configVector, value);
        break;
      case COMMON_STATUS:
        core.statusWritten(value);
        break;
      case COMMON_Q_SELECT:
        if (value < VIRTIO_QUEUE_MAX) core.regs.queueSel = value;
        break;
      case COMMON_Q_SIZE:
        q.modernNum[sel] = value;
        q.setNum(sel, q.modernNum[sel]!);
        break;
      case COMMON_Q_MSIX:
        q.setVector(sel, core.useVector(q.vector[sel]!, value));
        break;
      case COMMON_Q_ENABLE:
        if (value === 1) q.enable(sel);
        else core.virtioError();
        break;
      case COMMON_Q_RESET:
        if (value === 1) {
          q.resetQueue(sel);
          q.enabled[sel] = 0;
        }
        break;
      default:
        if (offset >= COMMON_Q_DESCLO && offset <= COMMON_Q_USEDHI && (offset & 3) === 0) {
          q.rings[6 * sel + ((offset - COMMON_Q_DESCLO) >> 2)] = value;
        }
    }
  }
}
