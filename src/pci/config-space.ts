import {
  PCI_CACHE_LINE_SIZE,
  PCI_CAPABILITY_LIST,
  PCI_CLASS_DEVICE,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_SERR,
  PCI_CONFIG_HEADER_SIZE,
  PCI_DEVICE_ID,
  PCI_HEADER_TYPE,
  PCI_INTERRUPT_LINE,
  PCI_REVISION_ID,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_DETECTED_PARITY,
  PCI_STATUS_PARITY,
  PCI_STATUS_REC_MASTER_ABORT,
  PCI_STATUS_REC_TARGET_ABORT,
  PCI_STATUS_SIG_SYSTEM_ERROR,
  PCI_STATUS_SIG_TARGET_ABORT,
  PCI_VENDOR_ID,
} from "./constants.js";

/**
 * The four masks of a config space, in one buffer. Shared (copy on write) by functions whose
 * masks are byte for byte the same; once `shared`, no one writes it.
 */
export class ConfigMasks {
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  readonly cmask: Uint8Array;
  readonly used: Uint8Array;
  shared = false;

  /** wmask, w1cmask, cmask, used, in that order. */
  constructor(readonly bytes: Uint8Array) {
    const size = bytes.length >> 2;
    this.wmask = bytes.subarray(0, size);
    this.w1cmask = bytes.subarray(size, 2 * size);
    this.cmask = bytes.subarray(2 * size, 3 * size);
    this.used = bytes.subarray(3 * size);
  }
}

/**
 * One function's configuration space: the bytes and QEMU's four parallel byte masks.
 *  - wmask: bits the guest may write;
 *  - w1cmask: bits the guest clears by writing 1 (status error bits);
 *  - cmask: bits that must match when state is loaded (identity, read-only capability bytes);
 *  - used: bytes claimed by capabilities (or reserved), so new capabilities find free room.
 * Model code writes with the set* methods (no masks); the guest writes through guestWrite.
 *
 * Masks only change while a device is built and when capabilities are added, removed or moved.
 * Once a function is plugged its masks may be shared with every identical function of the
 * machine (ConfigArena): from then on, code that changes a mask calls ownMasks() first, as
 * Capabilities, registerBar and restore do.
 */
export class ConfigSpace {
  /** The bytes; a plugged function's live in its machine's ConfigArena (see rebind). */
  readonly config: Uint8Array;
  private maskSet: ConfigMasks;

  constructor(readonly size: number) {
    // One allocation for the bytes and the masks (a buffer costs far more to make than its bytes).
    const storage = new Uint8Array(5 * size);
    this.config = storage.subarray(0, size);
    this.maskSet = new ConfigMasks(storage.subarray(size));
  }

  get wmask(): Uint8Array {
    return this.maskSet.wmask;
  }
  get w1cmask(): Uint8Array {
    return this.maskSet.w1cmask;
  }
  get cmask(): Uint8Array {
    return this.maskSet.cmask;
  }
  get used(): Uint8Array {
    return this.maskSet.used;
  }

  /** The masks this space uses now (perhaps shared). */
  get masks(): ConfigMasks {
    return this.maskSet;
  }

  /** Uses `masks` (holding the same bytes as this space's own) from now on, until ownMasks(). */
  shareMasks(masks: ConfigMasks): void {
    masks.shared = true;
    this.maskSet = masks;
  }

  /** Gives this space its own copy of the masks if it shares them: call before changing one. */
  ownMasks(): void {
    if (this.maskSet.shared) this.maskSet = new ConfigMasks(this.maskSet.bytes.slice());
  }

  /** Little-endian read of `len` (1..4) bytes; the caller keeps addr + len within the space. */
  read(addr: number, len: number): number {
    const c = this.config;
    switch (len) {
      case 4:
        return (c[addr]! | (c[addr + 1]! << 8) | (c[addr + 2]! << 16) | (c[addr + 3]! << 24)) >>> 0;
      case 2:
        return c[addr]! | (c[addr + 1]! << 8);
      case 1:
        return c[addr]!;
      default: // 3 bytes: a dword cycle clipped at the end of the space
        return c[addr]! | (c[addr + 1]! << 8) | (c[addr + 2]! << 16);
    }
  }

  /** A guest write: per byte, keep read-only bits, take writable bits, clear written-one w1c bits. */
  guestWrite(addr: number, value: number, len: number): void {
    const c = this.config;
    const wm = this.wmask;
    const w1c = this.w1cmask;
    for (let i = 0; i < len; i++, value >>>= 8) {
      const v = value & 0xff;
      const a = addr + i;
      const m = wm[a]!;
      c[a] = ((c[a]! & ~m) | (v & m)) & ~(v & w1c[a]!);
    }
  }

  get8(addr: number): number {
    return this.config[addr]!;
  }
  get16(addr: number): number {
    return this.read(addr, 2);
  }
  get32(addr: number): number {
    return this.read(addr, 4);
  }
  set8(addr: number, v: number): void {
    this.config[addr] = v;
  }
  set16(addr: number, v: number): void {
    setLe(this.config, addr, v, 2);
  }
  set32(addr: number, v: number): void {
    setLe(this.config, addr, v, 4);
  }

  /** Points `config` at other storage holding the same bytes (the machine's config arena). */
  rebind(view: Uint8Array): void {
    (this as { config: Uint8Array }).config = view;
  }

  /** All five arrays in one copy, e.g. to restore a machine exactly after a failed load. */
  snapshot(): Uint8Array {
    const n = this.size;
    const out = new Uint8Array(5 * n);
    out.set(this.config);
    out.set(this.maskSet.bytes, n);
    return out;
  }

  /** Puts back what snapshot() copied. */
  restore(saved: Uint8Array): void {
    const n = this.size;
    this.config.set(saved.subarray(0, n));
    const masks = saved.subarray(n);
    if (masks.every((b, i) => b === this.maskSet.bytes[i])) return;
    this.ownMasks();
    this.maskSet.bytes.set(masks);
  }
}

/** Writes `len` bytes of `v` little-endian into any of the five arrays. */
export function setLe(arr: Uint8Array, addr: number, v: number, len: number): void {
  for (let i = 0; i < len; i++) arr[addr + i] = (v >>> (8 * i)) & 0xff;
}

/** Reads `len` (up to 4) bytes little-endian from any of the five arrays. */
export function getLe(arr: Uint8Array, addr: number, len: number): number {
  let v = 0;
  for (let i = len - 1; i >= 0; i--) v = (v << 8) | arr[addr + i]!;
  return v >>> 0;
}

/**
 * The masks every function starts with (QEMU's pci_init_cmask/wmask/w1cmask): command bits
 * IO, MEM, MASTER, SERR and INTX_DISABLE writable; cache-line size and interrupt line writable;
 * every byte from 0x40 up writable until a capability claims it; status error bits w1c;
 * identity bytes checked on load.
 */
export function initHeaderMasks(space: ConfigSpace): void {
  const { wmask, cmask, w1cmask } = space;
  setLe(cmask, PCI_VENDOR_ID, 0xffff, 2);
  setLe(cmask, PCI_DEVICE_ID, 0xffff, 2);
  cmask[PCI_STATUS] = PCI_STATUS_CAP_LIST;
  cmask[PCI_REVISION_ID] = 0xff;
  cmask[PCI_CLASS_PROG] = 0xff;
  setLe(cmask, PCI_CLASS_DEVICE, 0xffff, 2);
  cmask[PCI_HEADER_TYPE] = 0xff;
  cmask[PCI_CAPABILITY_LIST] = 0xff;

  wmask[PCI_CACHE_LINE_SIZE] = 0xff;
  wmask[PCI_INTERRUPT_LINE] = 0xff;
  setLe(wmask, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE | PCI_COMMAND_SERR, 2);
  wmask.fill(0xff, PCI_CONFIG_HEADER_SIZE);

  setLe(
    w1cmask,
    PCI_STATUS,
    PCI_STATUS_PARITY |
      PCI_STATUS_SIG_TARGET_ABORT |
      PCI_STATUS_REC_TARGET_ABORT |
      PCI_STATUS_REC_MASTER_ABORT |
      PCI_STATUS_SIG_SYSTEM_ERROR |
      PCI_STATUS_DETECTED_PARITY,
    2,
  );
}
