import { MachbusError } from "../errors.js";
import { Region } from "../memory/address-space.js";
import { bool, describeState, u32Array, u8Array } from "../state/description.js";
import { Bar } from "./bar.js";
import { PCI_CAP_ID_MSIX, PCI_NUM_PINS } from "./constants.js";
import type { PciDevice } from "./device.js";

/** Size of the MSI-X capability: header, Message Control, table and PBA locators. */
export const MSIX_CAP_LENGTH = 12;
/** Bytes per table entry: address (64 bits), data, vector control. */
export const MSIX_ENTRY_SIZE = 16;
/** Message Control's table size field holds N - 1 in 11 bits. */
export const MSIX_MAX_VECTORS = 2048;

const MSIX_FLAGS = 2;
const MSIX_TABLE = 4;
const MSIX_PBA = 8;
/** Enable and function mask are bits 15 and 14 of Message Control: bits 7 and 6 of its high byte. */
const CONTROL_BYTE = MSIX_FLAGS + 1;
const CONTROL_ENABLE = 0x80;
const CONTROL_MASKALL = 0x40;
const ENTRY_VECTOR_CTRL = 12;
const ENTRY_CTRL_MASKBIT = 1;
const BIR_MASK = 7;
/** msix_init_exclusive_bar: at least 4 KiB, table at 0, PBA in the upper half (or right after a larger table). */
const EXCLUSIVE_BAR_MIN = 4096;

export interface MsixOptions {
  /** 1 to 2048. */
  vectors: number;
  /** The BAR whose contents hold the table, and where in it (8-byte aligned). */
  tableBar: Bar;
  tableOffset: number;
  /** The BAR holding the pending bit array, and where in it (8-byte aligned). */
  pbaBar: Bar;
  pbaOffset: number;
  /** Fixed capability offset; the first free gap when absent. */
  offset?: number;
}

/** Bytes of the pending bit array for `vectors` vectors: whole qwords, as QEMU allocates it. */
export function msixPbaSize(vectors: number): number {
  return Math.ceil(vectors / 64) * 8;
}

/** Size and PBA offset of a BAR that holds nothing but the table and the PBA (QEMU's rules). */
export function msixExclusiveBarLayout(vectors: number): { size: number; pbaOffset: number } {
  const pbaOffset = Math.max(EXCLUSIVE_BAR_MIN / 2, vectors * MSIX_ENTRY_SIZE);
  let size = Math.max(EXCLUSIVE_BAR_MIN, pbaOffset + msixPbaSize(vectors));
  size = 2 ** Math.ceil(Math.log2(size));
  return { size, pbaOffset };
}

/** What MSI-X keeps beyond config space: the table, the pending bits, vector use counts and the mask latch. */
interface MsixState {
  readonly table: Uint8Array;
  readonly pba: Uint8Array;
  readonly useCount: Uint32Array;
  /** QEMU's msix_function_masked: updated on control writes only (msix_reset leaves it alone). */
  functionMasked: boolean;
}

const MSIX_STATE = describeState<MsixState>({
  name: "msix",
  version: 1,
  fields: [u8Array("table"), u8Array("pba"), u32Array("useCount"), bool("functionMasked")],
});

/**
 * MSI-X (QEMU's msix.c): the 12-byte capability, the vector table and the pending bit array as
 * regions inside BAR contents. Every vector starts masked. A device marks the vectors it drives
 * with `use` (QEMU's msix_vector_use) and raises them with `notify`: delivered as an `msi` event
 * when MSI-X is enabled, the vector and the function are unmasked, and bus mastering is on;
 * held as a pending bit while masked and delivered when unmasked. Enabling MSI-X drops INTx.
 */
export class Msix {
  readonly offset: number;
  readonly vectors: number;
  private readonly state: MsixState;

  /**
   * Adds the capability and maps the table and PBA into the given BARs' contents. Throws when
   * the vector count is out of range or the structures overlap, do not fit or are misaligned.
   */
  constructor(
    private readonly device: PciDevice,
    options: MsixOptions,
  ) {
    const { vectors, tableBar, tableOffset, pbaBar, pbaOffset } = options;
    const label = device.function.label;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_MAX_VECTORS) {
      throw new MachbusError(
        "capability-bad-size",
        `${label}: The number of MSI-X vectors is invalid (${vectors}; 1 to ${MSIX_MAX_VECTORS})`,
      );
    }
    const tableSize = vectors * MSIX_ENTRY_SIZE;
    const pbaSize = msixPbaSize(vectors);
    const overlap = tableBar === pbaBar && tableOffset < pbaOffset + pbaSize && pbaOffset < tableOffset + tableSize;
    if (overlap || tableOffset + tableSize > tableBar.size || pbaOffset + pbaSize > pbaBar.size || (tableOffset | pbaOffset) & BIR_MASK) {
      throw new MachbusError(
        "capability-bad-offset",
        `${label}: table & pba overlap, or they don't fit in BARs, or don't align (table 0x${tableOffset.toString(16)}+0x${tableSize.toString(16)} in BAR ${tableBar.index}, ` +
          `PBA 0x${pbaOffset.toString(16)}+0x${pbaSize.toString(16)} in BAR ${pbaBar.index})`,
      );
    }
    this.vectors = vectors;
    this.offset = device.capabilities.add(PCI_CAP_ID_MSIX, MSIX_CAP_LENGTH, options.offset);
    const s = device.config;
    s.set16(this.offset + MSIX_FLAGS, vectors - 1);
    s.set32(this.offset + MSIX_TABLE, tableOffset | tableBar.index);
    s.set32(this.offset + MSIX_PBA, pbaOffset | pbaBar.index);
    s.wmask[this.offset + CONTROL_BYTE] = s.wmask[this.offset + CONTROL_BYTE]! | CONTROL_ENABLE | CONTROL_MASKALL;
    this.state = {
      table: new Uint8Array(tableSize),
      pba: new Uint8Array(pbaSize),
      useCount: new Uint32Array(vectors),
      functionMasked: true,
    };
    this.maskAll();

    const owner = label;
    // Dword accesses only (valid.min_access_size 4): narrower ones read 0 and write nothing.
    tableBar.contents.map(
      new Region(
        "msix-table",
        tableSize,
        {
          read: (offset, size) => (size === 4 ? this.tableLong(offset) : 0),
          write: (offset, size, value) => {
            if (size === 4) this.tableWritten(offset, value);
          },
        },
        { owner },
      ),
      tableOffset,
    );
    pbaBar.contents.map(
      new Region(
        "msix-pba",
        pbaSize,
        {
          read: (offset, size) => (size === 4 ? this.pbaLong(offset) : 0),
          write: () => {},
        },
        { owner },
      ),
      pbaOffset,
    );
    device.function.onConfigWrite(this.offset + CONTROL_BYTE, 1, () => this.controlWritten());
    device.function.onReset(() => this.reset());
    device.function.keepState(MSIX_STATE, this.state);
  }

  /**
   * QEMU's msix_init_exclusive_bar: a 32-bit memory BAR `barIndex` holding only the table (at 0)
   * and the PBA (at 2 KiB, or right after a table larger than that); 4 KiB, or the next power of
   * two that fits both. Its contents' holes decode nothing.
   */
  static exclusiveBar(device: PciDevice, vectors: number, barIndex: number, options: { offset?: number; name?: string } = {}): Msix {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_MAX_VECTORS) {
      throw new MachbusError(
        "capability-bad-size",
        `${device.function.label}: The number of MSI-X vectors is invalid (${vectors}; 1 to ${MSIX_MAX_VECTORS})`,
      );
    }
    const { size, pbaOffset } = msixExclusiveBarLayout(vectors);
    const bar = new Bar(barIndex, { kind: "mem32", size, name: options.name ?? `${device.driver}-msix` });
    const msix = new Msix(device, { vectors, tableBar: bar, tableOffset: 0, pbaBar: bar, pbaOffset, offset: options.offset });
    device.function.registerBar(bar);
    return msix;
  }

  get enabled(): boolean {
    return (this.device.config.get8(this.offset + CONTROL_BYTE) & CONTROL_ENABLE) !== 0;
  }

  /** Whether the function mask (Message Control bit 14) is set. */
  get functionMaskBit(): boolean {
    return (this.device.config.get8(this.offset + CONTROL_BYTE) & CONTROL_MASKALL) !== 0;
  }

  /** The table entry's programmed message. */
  message(vector: number): { address: bigint; data: number } {
    const at = vector * MSIX_ENTRY_SIZE;
    const address = BigInt(this.tableLong(at)) | (BigInt(this.tableLong(at + 4)) << 32n);
    return { address, data: this.tableLong(at + 8) };
  }

  /** Masked by its own vector control bit or by the function (QEMU's msix_is_masked). */
  isMasked(vector: number): boolean {
    return this.vectorMasked(vector, this.state.functionMasked);
  }

  isPending(vector: number): boolean {
    return (this.state.pba[vector >> 3]! & (1 << (vector & 7))) !== 0;
  }

  /** Marks a vector as driven by the device; false when it does not exist (QEMU's msix_vector_use). */
  use(vector: number): boolean {
    if (!(vector >= 0 && vector < this.vectors)) return false;
    this.state.useCount[vector]!++;
    return true;
  }

  /** Undoes one `use`; the last one clears the vector's pending bit. */
  unuse(vector: number): void {
    if (!(vector >= 0 && vector < this.vectors) || this.state.useCount[vector] === 0) return;
    if (--this.state.useCount[vector]! === 0) this.clearPending(vector);
  }

  /** Forgets every use and pending bit (QEMU's msix_unuse_all_vectors). */
  unuseAll(): void {
    this.state.useCount.fill(0);
    this.state.pba.fill(0);
  }

  /** QEMU's msix_notify: an unused or absent vector does nothing, a masked one becomes pending. */
  notify(vector: number): void {
    if (!(vector >= 0 && vector < this.vectors) || this.state.useCount[vector] === 0) return;
    if (this.isMasked(vector)) {
      this.state.pba[vector >> 3] = this.state.pba[vector >> 3]! | (1 << (vector & 7));
      return;
    }
    this.send(vector);
  }

  private send(vector: number): void {
    const { address, data } = this.message(vector);
    this.device.function.sendMessage(address, data);
  }

  private vectorMasked(vector: number, functionMasked: boolean): boolean {
    return functionMasked || (this.state.table[vector * MSIX_ENTRY_SIZE + ENTRY_VECTOR_CTRL]! & ENTRY_CTRL_MASKBIT) !== 0;
  }

  private clearPending(vector: number): void {
    this.state.pba[vector >> 3] = this.state.pba[vector >> 3]! & ~(1 << (vector & 7));
  }

  /** An unmasked vector with its pending bit set is delivered now. */
  private maskChanged(vector: number, wasMasked: boolean): void {
    const masked = this.isMasked(vector);
    if (masked === wasMasked || masked || !this.isPending(vector)) return;
    this.clearPending(vector);
    this.notify(vector);
  }

  private tableLong(offset: number): number {
    const t = this.state.table;
    return (t[offset]! | (t[offset + 1]! << 8) | (t[offset + 2]! << 16) | (t[offset + 3]! << 24)) >>> 0;
  }

  private pbaLong(offset: number): number {
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | (this.state.pba[offset + i] ?? 0);
    return v >>> 0;
  }

  private tableWritten(offset: number, value: number): void {
    const vector = Math.floor(offset / MSIX_ENTRY_SIZE);
    const wasMasked = this.isMasked(vector);
    for (let i = 0; i < 4; i++) this.state.table[offset + i] = (value >>> (8 * i)) & 0xff;
    this.maskChanged(vector, wasMasked);
  }

  /** QEMU's msix_write_config, run when a write covers the control byte. */
  private controlWritten(): void {
    const wasMasked = this.state.functionMasked;
    this.state.functionMasked = !this.enabled || this.functionMaskBit;
    if (!this.enabled) return;
    for (let pin = 0; pin < PCI_NUM_PINS; pin++) this.device.function.setPinLevel(pin, false);
    if (this.state.functionMasked === wasMasked) return;
    for (let v = 0; v < this.vectors; v++) this.maskChanged(v, this.vectorMasked(v, wasMasked));
  }

  private maskAll(): void {
    for (let v = 0; v < this.vectors; v++) {
      const wasMasked = this.isMasked(v);
      this.state.table[v * MSIX_ENTRY_SIZE + ENTRY_VECTOR_CTRL] =
        this.state.table[v * MSIX_ENTRY_SIZE + ENTRY_VECTOR_CTRL]! | ENTRY_CTRL_MASKBIT;
      this.maskChanged(v, wasMasked);
    }
  }

  /** QEMU's msix_reset: enable and function mask cleared, table and PBA zeroed, every vector masked. */
  private reset(): void {
    const s = this.device.config;
    s.config[this.offset + CONTROL_BYTE] = s.config[this.offset + CONTROL_BYTE]! & ~s.wmask[this.offset + CONTROL_BYTE]!;
    this.state.table.fill(0);
    this.state.pba.fill(0);
    this.maskAll();
  }
}
