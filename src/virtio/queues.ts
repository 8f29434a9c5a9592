import { columns, table } from "../state/description.js";
import { VIRTIO_NO_VECTOR, VIRTIO_QUEUE_MAX, VIRTQUEUE_MAX_SIZE } from "./constants.js";

/** Legacy VIRTIO_PCI_QUEUE_PFN holds the descriptor table's address in 4 KiB pages. */
const QUEUE_ADDR_SHIFT = 12;

/**
 * The virtqueues' registers, one row per queue: the device half (QEMU's vdev->vq[n]: default and
 * current size, descriptor address, MSI-X vector) and the modern interface's own copies (QEMU's
 * proxy->vqs[n]: size, enabled, reset, and desc/avail/used as low and high halves). Queues are
 * registers only: no ring is ever read or written.
 */
export class VirtQueues {
  readonly numDefault = new Uint16Array(VIRTIO_QUEUE_MAX);
  readonly num = new Uint16Array(VIRTIO_QUEUE_MAX);
  /** Descriptor table address, low and high dword per queue. */
  readonly desc = new Uint32Array(2 * VIRTIO_QUEUE_MAX);
  readonly vector = new Uint16Array(VIRTIO_QUEUE_MAX).fill(VIRTIO_NO_VECTOR);
  readonly modernNum = new Uint16Array(VIRTIO_QUEUE_MAX);
  readonly enabled = new Uint8Array(VIRTIO_QUEUE_MAX);
  readonly queueReset = new Uint8Array(VIRTIO_QUEUE_MAX);
  /** queue_desc, queue_avail, queue_used as written through the common configuration: six dwords per queue. */
  readonly rings = new Uint32Array(6 * VIRTIO_QUEUE_MAX);

  /** `sizes`: the queues the device creates, in order; the rest do not exist (size 0). */
  constructor(sizes: readonly number[]) {
    sizes.slice(0, VIRTIO_QUEUE_MAX).forEach((size, n) => {
      this.numDefault[n] = size;
      this.num[n] = size;
    });
  }

  size(queue: number): number {
    return queue < VIRTIO_QUEUE_MAX ? this.num[queue]! : 0;
  }

  vectorOf(queue: number): number {
    return queue < VIRTIO_QUEUE_MAX ? this.vector[queue]! : VIRTIO_NO_VECTOR;
  }

  setVector(queue: number, vector: number): void {
    if (queue < VIRTIO_QUEUE_MAX) this.vector[queue] = vector;
  }

  /** The common configuration's num_queues: one past the last queue that exists. */
  get count(): number {
    let n = 0;
    for (let q = 0; q < VIRTIO_QUEUE_MAX; q++) if (this.num[q]) n = q + 1;
    return n;
  }

  /** A queue cannot be created or removed by the guest, nor grow past 1024 entries. */
  setNum(queue: number, num: number): void {
    if ((num !== 0) !== (this.num[queue] !== 0) || num > VIRTQUEUE_MAX_SIZE) return;
    this.num[queue] = num;
  }

  /** Legacy QUEUE_PFN: the descriptor table's page number. */
  setPfn(queue: number, pfn: number): void {
    if (!this.num[queue]) return;
    this.desc[2 * queue] = (pfn << QUEUE_ADDR_SHIFT) >>> 0;
    this.desc[2 * queue + 1] = pfn >>> (32 - QUEUE_ADDR_SHIFT);
  }

  pfn(queue: number): number {
    return ((this.desc[2 * queue + 1]! << (32 - QUEUE_ADDR_SHIFT)) | (this.desc[2 * queue]! >>> QUEUE_ADDR_SHIFT)) >>> 0;
  }

  /** Modern queue_enable: the size and descriptor address written through the common configuration take effect. */
  enable(queue: number): void {
    this.setNum(queue, this.modernNum[queue]!);
    if (this.num[queue]) {
      this.desc[2 * queue] = this.rings[6 * queue]!;
      this.desc[2 * queue + 1] = this.rings[6 * queue + 1]!;
    }
    this.enabled[queue] = 1;
  }

  /** QEMU's virtio_queue_reset of the device half. */
  resetQueue(queue: number): void {
    this.desc[2 * queue] = 0;
    this.desc[2 * queue + 1] = 0;
    this.vector[queue] = VIRTIO_NO_VECTOR;
    this.num[queue] = this.numDefault[queue]!;
  }

  /** Transport reset: every queue of both halves. */
  resetAll(): void {
    this.num.set(this.numDefault);
    this.desc.fill(0);
    this.vector.fill(VIRTIO_NO_VECTOR);
    this.modernNum.fill(0);
    this.enabled.fill(0);
    this.queueReset.fill(0);
    this.rings.fill(0);
  }
}

/** The device half's rows, as snapshots keep them: only queues a driver touched. */
export const queueTable = table<VirtQueues>("vq", [
  columns.u16("num", {
    resetFrom: "numDefault",
    check: (num, q, queues) =>
      (num !== 0) !== (queues.numDefault[q] !== 0)
        ? `virtio state has queue ${q} ${num ? "in use" : "absent"}, which this device ${num ? "does not have" : "has"}`
        : null,
  }),
  columns.u32("desc", { per: 2 }),
  columns.u16("vector", { fill: VIRTIO_NO_VECTOR }),
]);

/** The modern interface's rows (QEMU's virtio_pci/modern_queue_state). */
export const modernQueueTable = table<VirtQueues>("proxy", [
  columns.u16("modernNum"),
  columns.u8("enabled"),
  columns.u8("queueReset"),
  columns.u32("rings", { per: 6 }),
]);
