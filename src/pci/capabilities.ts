import { MachbusError } from "../errors.js";
import { ConfigSpace, getLe, setLe } from "./config-space.js";
import {
  PCI_CAP_LIST_ID,
  PCI_CAP_LIST_NEXT,
  PCI_CAPABILITY_LIST,
  PCI_CONFIG_HEADER_SIZE,
  PCI_CONFIG_SPACE_SIZE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
} from "./constants.js";

export interface CapabilityEntry {
  readonly id: number;
  readonly offset: number;
}

const hex = (n: number): string => "0x" + n.toString(16).padStart(2, "0");
const alignUp4 = (n: number): number => (n + 3) & ~3;

/**
 * The classic capability list (the seed's pci_add/del/find/reserve_capability): a linked list
 * of 8-bit pointers starting at 0x34. A new capability becomes the head of the list.
 * `label` names the owning function in error messages.
 */
export class Capabilities {
  constructor(
    private readonly space: ConfigSpace,
    private readonly label: () => string,
  ) {}

  /**
   * Adds a capability of `size` bytes and returns its offset. Without `offset` it takes the
   * first free 4-byte-aligned gap at or above 0x40. The bytes become read-only and checked on
   * load; the device then makes writable what the capability's layout allows.
   */
  add(id: number, size: number, offset?: number): number {
    const where = offset === undefined ? this.findSpace(id, size) : this.checkPlacement(id, size, offset);
    const s = this.space;
    s.ownMasks();
    s.config[where + PCI_CAP_LIST_ID] = id;
    s.config[where + PCI_CAP_LIST_NEXT] = s.config[PCI_CAPABILITY_LIST]!;
    s.config[PCI_CAPABILITY_LIST] = where;
    s.config[PCI_STATUS] = s.config[PCI_STATUS]! | PCI_STATUS_CAP_LIST;
    s.used.fill(0xff, where, Math.min(alignUp4(where + size), PCI_CONFIG_SPACE_SIZE));
    s.wmask.fill(0, where, where + size);
    s.w1cmask.fill(0, where, where + size);
    s.cmask.fill(0xff, where, where + size);
    return where;
  }

  /**
   * The capability ids this device has, as a bitmask (bit n: id n): what a state stream records
   * as present and what a target checks against (the seed's cap_present & ~cap_supported).
   */
  presentMask(): number {
    // The same walk as the iterator, without its allocations: snapshots ask once per function.
    const c = this.space.config;
    if (!(c[PCI_STATUS]! & PCI_STATUS_CAP_LIST)) return 0;
    let mask = 0;
    let next = c[PCI_CAPABILITY_LIST]!;
    for (let steps = 0; next >= PCI_CONFIG_HEADER_SIZE && steps < 48; steps++) {
      const id = c[next + PCI_CAP_LIST_ID]!;
      if (id < 32) mask |= 1 << id;
      next = c[next + PCI_CAP_LIST_NEXT]!;
    }
    return mask >>> 0;
  }

  /**
   * Unlinks the first capability with `id` and makes its bytes ordinary writable device-specific
   * space again (as the seed does). Returns the offset it had, or 0 when there was none.
   */
  remove(id: number, size: number): number {
    const found = this.findWithPrevious(id);
    if (!found) return 0;
    const s = this.space;
    const { offset, previous } = found;
    s.ownMasks();
    s.config[previous] = s.config[offset + PCI_CAP_LIST_NEXT]!;
    s.wmask.fill(0xff, offset, offset + size);
    s.w1cmask.fill(0, offset, offset + size);
    s.cmask.fill(0, offset, offset + size);
    s.used.fill(0, offset, Math.min(alignUp4(offset + size), PCI_CONFIG_SPACE_SIZE));
    if (s.config[PCI_CAPABILITY_LIST] === 0) s.config[PCI_STATUS] = s.config[PCI_STATUS]! & ~PCI_STATUS_CAP_LIST;
    return offset;
  }

  /** Offset of the first capability with `id`, or 0. */
  find(id: number): number {
    return this.findWithPrevious(id)?.offset ?? 0;
  }

  /** The capability and the offset of the pointer that links to it (0x34 or the previous next-byte). */
  findWithPrevious(id: number): { offset: number; previous: number } | null {
    let previous = PCI_CAPABILITY_LIST;
    for (const cap of this) {
      if (cap.id === id) return { offset: cap.offset, previous };
      previous = cap.offset + PCI_CAP_LIST_NEXT;
    }
    return null;
  }

  /**
   * Claims bytes at a known offset without linking anything: after a state load the list is
   * already in the config bytes and only the bookkeeping must follow it.
   */
  reserve(offset: number, size: number): void {
    this.checkBounds(0, size, offset);
    this.space.ownMasks();
    this.space.used.fill(0xff, offset, Math.min(alignUp4(offset + size), PCI_CONFIG_SPACE_SIZE));
  }

  /** Walks the list from 0x34; stops at a zero pointer, a pointer into the header, or a loop. */
  *[Symbol.iterator](): IterableIterator<CapabilityEntry> {
    const c = this.space.config;
    if (!(c[PCI_STATUS]! & PCI_STATUS_CAP_LIST)) return;
    let next = c[PCI_CAPABILITY_LIST]!;
    // At most 48 dword-aligned capabilities fit between 0x40 and 0xff; more means a loop.
    for (let steps = 0; next >= PCI_CONFIG_HEADER_SIZE && steps < 48; steps++) {
      yield { id: c[next + PCI_CAP_LIST_ID]!, offset: next };
      next = c[next + PCI_CAP_LIST_NEXT]!;
    }
  }

  list(): CapabilityEntry[] {
    return [...this];
  }

  private findSpace(id: number, size: number): number {
    this.checkSize(id, size);
    const used = this.space.used;
    let start = PCI_CONFIG_HEADER_SIZE;
    for (let i = PCI_CONFIG_HEADER_SIZE; i < PCI_CONFIG_SPACE_SIZE; i++) {
      if (used[i]) start = alignUp4(i + 1);
      else if (i >= start && i - start + 1 === size) return start;
    }
    throw new MachbusError(
      "capability-no-space",
      `${this.label()}: no room for capability ${hex(id)} of ${size} bytes in config space ` + `(free: ${this.describeFree()})`,
    );
  }

  private checkPlacement(id: number, size: number, offset: number): number {
    this.checkBounds(id, size, offset);
    const used = this.space.used;
    for (let i = offset; i < offset + size; i++) {
      if (used[i]) {
        const owner = this.owningCapability(i);
        throw new MachbusError(
          "capability-overlap",
          `${this.label()}: capability ${hex(id)} at offset ${hex(offset)} (${size} bytes) overlaps ` +
            (owner ? `capability ${hex(owner.id)} at offset ${hex(owner.offset)}` : `reserved bytes`) +
            ` at ${hex(i)}`,
        );
      }
    }
    return offset;
  }

  private checkSize(id: number, size: number): void {
    if (!Number.isInteger(size) || size < 2 || size > PCI_CONFIG_SPACE_SIZE - PCI_CONFIG_HEADER_SIZE) {
      throw new MachbusError(
        "capability-bad-size",
        `${this.label()}: capability ${hex(id)} size ${size} is invalid (2 to 192 bytes: id, next pointer, body)`,
      );
    }
  }

  private checkBounds(id: number, size: number, offset: number): void {
    this.checkSize(id, size);
    if (!Number.isInteger(offset) || offset < PCI_CONFIG_HEADER_SIZE || offset % 4 !== 0) {
      throw new MachbusError(
        "capability-bad-offset",
        `${this.label()}: capability ${hex(id)} offset ${hex(offset)} is invalid ` + `(capabilities start at 0x40 or above, dword aligned)`,
      );
    }
    if (offset + size > PCI_CONFIG_SPACE_SIZE) {
      throw new MachbusError(
        "capability-bad-offset",
        `${this.label()}: capability ${hex(id)} at offset ${hex(offset)} (${size} bytes) runs past the ` +
          `end of the 256-byte config space`,
      );
    }
  }

  private owningCapability(byte: number): CapabilityEntry | undefined {
    let best: CapabilityEntry | undefined;
    for (const cap of this) if (cap.offset <= byte && (!best || cap.offset > best.offset)) best = cap;
    return best;
  }

  private describeFree(): string {
    const used = this.space.used;
    const gaps: string[] = [];
    let start = -1;
    for (let i = PCI_CONFIG_HEADER_SIZE; i <= PCI_CONFIG_SPACE_SIZE; i++) {
      const free = i < PCI_CONFIG_SPACE_SIZE && !used[i];
      if (free && start < 0) start = i;
      if (!free && start >= 0) {
        gaps.push(`${hex(start)}-${hex(i - 1)}`);
        start = -1;
      }
    }
    return gaps.length ? gaps.join(", ") : "none";
  }
}

const EXT_CAP_START = PCI_CONFIG_SPACE_SIZE;

export interface ExtendedCapabilityEntry extends CapabilityEntry {
  readonly version: number;
}

/**
 * PCI Express extended capabilities (0x100 and up): a dword header with a 16-bit id, a 4-bit
 * version and a 12-bit next pointer. The list starts at 0x100 and new entries are appended,
 * as QEMU's pcie_add_capability does.
 */
export class ExtendedCapabilities {
  constructor(
    private readonly space: ConfigSpace,
    private readonly label: () => string,
  ) {}

  /**
   * `allowOverlap`: place it even over bytes another extended capability uses, as QEMU's
   * pcie_add_capability (which checks nothing) lets e1000e put its serial number at 0x140,
   * inside its AER capability's TLP prefix log.
   */
  add(id: number, version: number, size: number, offset?: number, { allowOverlap = false }: { allowOverlap?: boolean } = {}): number {
    const s = this.space;
    if (s.size <= EXT_CAP_START) {
      throw new MachbusError(
        "capability-bad-offset",
        `${this.label()}: extended capability ${hex(id)} needs a PCI Express (4096-byte) config space`,
      );
    }
    const entries = this.list();
    const where = offset ?? (entries.length === 0 ? EXT_CAP_START : this.findSpace(id, size));
    this.checkPlacement(id, size, where, entries.length === 0, allowOverlap);
    s.ownMasks();
    if (entries.length > 0) {
      const last = entries[entries.length - 1]!.offset;
      setLe(s.config, last, (getLe(s.config, last, 4) & 0x000fffff) | (where << 20), 4);
    }
    setLe(s.config, where, (id & 0xffff) | ((version & 0xf) << 16), 4);
    s.used.fill(0xff, where, alignUp4(where + size));
    s.wmask.fill(0, where, where + size);
    s.w1cmask.fill(0, where, where + size);
    s.cmask.fill(0xff, where, where + size);
    return where;
  }

  /** Unlinks the capability; at 0x100 (the fixed head) it leaves a null header that keeps the chain. */
  remove(id: number, size: number): number {
    const s = this.space;
    let previous = -1;
    for (const cap of this) {
      if (cap.id === id) {
        s.ownMasks();
        const header = getLe(s.config, cap.offset, 4);
        if (previous < 0) setLe(s.config, cap.offset, header & 0xfff00000, 4);
        else setLe(s.config, previous, (getLe(s.config, previous, 4) & 0x000fffff) | (header & 0xfff00000), 4);
        const bodyStart = previous < 0 ? cap.offset + 4 : cap.offset;
        s.wmask.fill(0xff, bodyStart, cap.offset + size);
        s.cmask.fill(0, bodyStart, cap.offset + size);
        s.used.fill(0, bodyStart, alignUp4(cap.offset + size));
        return cap.offset;
      }
      previous = cap.offset;
    }
    return 0;
  }

  find(id: number): number {
    for (const cap of this) if (cap.id === id) return cap.offset;
    return 0;
  }

  *[Symbol.iterator](): IterableIterator<ExtendedCapabilityEntry> {
    const s = this.space;
    if (s.size <= EXT_CAP_START) return;
    let offset = EXT_CAP_START;
    // (4096 - 256) / 4 headers at most; more means a loop.
    for (let steps = 0; offset >= EXT_CAP_START && offset < s.size && steps < 960; steps++) {
      const header = getLe(s.config, offset, 4);
      if (header === 0) return;
      const id = header & 0xffff;
      if (id !== 0) yield { id, version: (header >>> 16) & 0xf, offset };
      offset = header >>> 20;
    }
  }

  list(): ExtendedCapabilityEntry[] {
    return [...this];
  }

  private findSpace(id: number, size: number): number {
    const used = this.space.used;
    let start = EXT_CAP_START;
    for (let i = EXT_CAP_START; i < this.space.size; i++) {
      if (used[i]) start = alignUp4(i + 1);
      else if (i >= start && i - start + 1 === size) return start;
    }
    throw new MachbusError("capability-no-space", `${this.label()}: no room for extended capability ${hex(id)} of ${size} bytes`);
  }

  private checkPlacement(id: number, size: number, offset: number, first: boolean, allowOverlap = false): void {
    if (!Number.isInteger(size) || size < 4 || offset + size > this.space.size) {
      throw new MachbusError(
        "capability-bad-size",
        `${this.label()}: extended capability ${hex(id)} of ${size} bytes at ${hex(offset)} does not fit below 0x1000`,
      );
    }
    if (!Number.isInteger(offset) || offset < EXT_CAP_START || offset % 4 !== 0 || (first && offset !== EXT_CAP_START)) {
      throw new MachbusError(
        "capability-bad-offset",
        `${this.label()}: extended capability ${hex(id)} offset ${hex(offset)} is invalid ` +
          (first ? "(the first extended capability sits at 0x100)" : "(0x100 or above, dword aligned)"),
      );
    }
    const used = this.space.used;
    for (let i = offset; i < offset + size && !allowOverlap; i++) {
      if (used[i]) {
        throw new MachbusError(
          "capability-overlap",
          `${this.label()}: extended capability ${hex(id)} at ${hex(offset)} overlaps used bytes at ${hex(i)}`,
        );
      }
    }
  }
}
