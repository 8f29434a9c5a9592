import { MachbusError } from "../errors.js";
import { setLe } from "./config-space.js";
import {
  PCI_CAP_ID_MSI,
  PCI_MSI_ADDRESS_LO,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_MSI_FLAGS_QSIZE,
  PCI_MSI_VECTORS_MAX,
  PCI_NUM_PINS,
} from "./constants.js";
import type { PciDevice } from "./device.js";

export interface MsiOptions {
  /** 1, 2, 4, 8, 16 or 32 (rounded up to a power of two, as QEMU does). */
  vectors: number;
  is64bit: boolean;
  perVectorMask: boolean;
  /** Fixed offset; the first free gap when absent. */
  offset?: number;
}

/** Capability size by layout: 0x0a, 0x0e (64-bit), 0x14 (mask), 0x18 (64-bit + mask). */
export function msiCapabilitySize(is64bit: boolean, perVectorMask: boolean): number {
  return (is64bit ? 0x0e : 0x0a) + (perVectorMask ? 0x0a : 0);
}

/**
 * MSI (QEMU's msi.c): the capability layout, its writable bits, clamping of the enabled vector
 * count, per-vector masking with pending bits, and delivery as an `msi` event.
 */
export class Msi {
  readonly offset: number;
  private readonly is64: boolean;
  private readonly maskable: boolean;

  constructor(
    private readonly device: PciDevice,
    options: MsiOptions,
  ) {
    const { vectors, is64bit, perVectorMask } = options;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > PCI_MSI_VECTORS_MAX) {
      throw new MachbusError("capability-bad-size", `${device.function.label}: MSI supports 1 to 32 vectors, not ${vectors}`);
    }
    const order = Math.ceil(Math.log2(vectors));
    let flags = order << 1;
    if (is64bit) flags |= PCI_MSI_FLAGS_64BIT;
    if (perVectorMask) flags |= PCI_MSI_FLAGS_MASKBIT;
    this.is64 = is64bit;
    this.maskable = perVectorMask;
    const size = msiCapabilitySize(is64bit, perVectorMask);
    this.offset = device.capabilities.add(PCI_CAP_ID_MSI, size, options.offset);
    const s = device.config;
    s.set16(this.offset + PCI_MSI_FLAGS, flags);
    setLe(s.wmask, this.offset + PCI_MSI_FLAGS, PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE, 2);
    setLe(s.wmask, this.offset + PCI_MSI_ADDRESS_LO, 0xfffffffc, 4);
    if (is64bit) setLe(s.wmask, this.offset + 8, 0xffffffff, 4);
    setLe(s.wmask, this.dataOffset, 0xffff, 2);
    if (perVectorMask) setLe(s.wmask, this.maskOffset, 0xffffffff >>> (PCI_MSI_VECTORS_MAX - (1 << order)), 4);
    device.function.onConfigWrite(this.offset, size, () => this.written());
    device.function.onReset(() => this.reset());
  }

  get flags(): number {
    return this.device.config.get16(this.offset + PCI_MSI_FLAGS);
  }

  get enabled(): boolean {
    return (this.flags & PCI_MSI_FLAGS_ENABLE) !== 0;
  }

  /** Vectors the guest enabled (Multiple Message Enable). */
  get vectorCount(): number {
    return 1 << ((this.flags & PCI_MSI_FLAGS_QSIZE) >> 4);
  }

  private get dataOffset(): number {
    return this.offset + (this.is64 ? 0x0c : 0x08);
  }
  private get maskOffset(): number {
    return this.offset + (this.is64 ? 0x10 : 0x0c);
  }
  private get pendingOffset(): number {
    return this.offset + (this.is64 ? 0x14 : 0x10);
  }

  isMasked(vector: number): boolean {
    return this.maskable && (this.device.config.get32(this.maskOffset) & (1 << vector)) !== 0;
  }

  pending(): number {
    return this.maskable ? this.device.config.get32(this.pendingOffset) : 0;
  }

  /** The message for `vector`: the programmed address, data with the vector in its low bits. */
  message(vector: number): { address: bigint; data: number } {
    const s = this.device.config;
    const lo = BigInt(s.get32(this.offset + PCI_MSI_ADDRESS_LO));
    const address = this.is64 ? lo | (BigInt(s.get32(this.offset + 8)) << 32n) : lo;
    let data = s.get16(this.dataOffset);
    const n = this.vectorCount;
    if (n > 1) data = (data & ~(n - 1)) | vector;
    return { address, data };
  }

  /** QEMU's msi_notify: masked vectors become pending, others are delivered. */
  notify(vector: number): void {
    if (this.isMasked(vector)) {
      const s = this.device.config;
      s.set32(this.pendingOffset, s.get32(this.pendingOffset) | (1 << vector));
      return;
    }
    this.send(vector);
  }

  private send(vector: number): void {
    const { address, data } = this.message(vector);
    this.device.function.sendMessage(address, data);
  }

  /** QEMU's msi_write_config: clamp the vector count, drop INTx, deliver unmasked pending vectors. */
  private written(): void {
    const s = this.device.config;
    let flags = this.flags;
    if (!(flags & PCI_MSI_FLAGS_ENABLE)) return;
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.device.function.setPinLevel(pin, false);
    const logMax = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
    if ((flags & PCI_MSI_FLAGS_QSIZE) >> 4 > logMax) {
      flags = (flags & ~PCI_MSI_FLAGS_QSIZE) | (logMax << 4);
      s.set16(this.offset + PCI_MSI_FLAGS, flags);
    }
    if (!this.maskable) return;
    const n = this.vectorCount;
    let pending = (s.get32(this.pendingOffset) & (0xffffffff >>> (PCI_MSI_VECTORS_MAX - n))) >>> 0;
    s.set32(this.pendingOffset, pending);
    for (let v = 0; v < n; v++) {
      if (this.isMasked(v) || !(pending & (1 << v))) continue;
      pending = (pending & ~(1 << v)) >>> 0;
      s.set32(this.pendingOffset, pending);
      this.send(v);
    }
  }

  /** QEMU's msi_reset: disabled, one vector, address/data/mask/pending cleared. */
  private reset(): void {
    const s = this.device.config;
    s.set16(this.offset + PCI_MSI_FLAGS, this.flags & ~(PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE));
    setLe(s.config, this.offset + PCI_MSI_ADDRESS_LO, 0, this.is64 ? 8 : 4);
    s.set16(this.dataOffset, 0);
    if (this.maskable) {
      s.set32(this.maskOffset, 0);
      s.set32(this.pendingOffset, 0);
    }
  }
}
