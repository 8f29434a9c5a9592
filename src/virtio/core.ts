import type { VirtQueues } from "./queues.js";

/** The device half's registers (QEMU's VirtIODevice): what a driver negotiated and set up. */
export interface VirtioRegisters {
  guestFeatures: bigint;
  status: number;
  isr: number;
  queueSel: number;
  configVector: number;
  /** config_generation: bumped by each configuration change notice. */
  generation: number;
  /** QEMU's vdev->broken: the device stopped after a driver error, until it is reset. */
  broken: boolean;
  /** QEMU's use-disabled-flag state: bus mastering was turned off. */
  disabled: boolean;
}

/**
 * What the transport's register blocks (the legacy I/O header, the modern common configuration)
 * ask of the device half: its registers and the operations with side effects. The transport
 * (VirtioPciDevice) provides it; the blocks hold no device state of their own beyond theirs.
 */
export interface VirtioCore {
  /** What the device offers (vdev->host_features), VERSION_1 and BAD_FEATURE included. */
  readonly hostFeatures: bigint;
  readonly regs: VirtioRegisters;
  readonly queues: VirtQueues;
  readonly msixEnabled: boolean;
  /** A driver's feature choice, ignored once FEATURES_OK is set. */
  setFeatures(features: bigint): void;
  /** What a legacy guest gets when it sets VIRTIO_F_BAD_FEATURE (the device model's choice). */
  badFeatures(): bigint;
  /** A status register write: 0 resets the device. */
  statusWritten(value: number): void;
  /** Reading the ISR returns and clears it. */
  readIsr(): number;
  /** msix_vector_unuse of `old`, msix_vector_use of `value`: the vector now in effect. */
  useVector(old: number, value: number): number;
  /** QEMU's virtio_error. */
  virtioError(): void;
  /** QEMU's virtio_pci_reset. */
  reset(): void;
  kick(queue: number): void;
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
  /** Sets the command register's bus-master bit as QEMU's default config write does. */
  enableBusMaster(): void;
}
