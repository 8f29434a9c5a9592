/*
 * Numbers from the virtio 1.x specification that the transport and the device models share:
 * device types, feature bits, status bits, queue limits; and the bit helpers they go with.
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
export const LEGACY_ONLY_FEATURES = bit(VIRTIO_F_BAD_FEATURE) | bit(VIRTIO_F_NOTIFY_ON_EMPTY) | bit(VIRTIO_F_ANY_LAYOUT);

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function hasBit(features: bigint, n: number): boolean {
  return (features & bit(n)) !== 0n;
}

/** The smallest power of two at least `n` (region and BAR sizes). */
export function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
