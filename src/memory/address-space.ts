import { MachbusError } from "../errors.js";

/** What a region does with the accesses that reach it; `offset` is relative to the region's start. */
export interface RegionOps {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

export interface RegionOptions {
  /** Largest access the region accepts in one piece (QEMU's valid.max_access_size); default 4. */
  maxAccess?: 1 | 2 | 4;
  /** Access sizes the handler implements; larger or smaller accesses are split or widened. */
  implMin?: 1 | 2 | 4;
  implMax?: 1 | 2 | 4;
  /** Whether the handler takes unaligned accesses whole; default false (split on alignment). */
  unaligned?: boolean;
  /** Who owns it, for overlap reports (a device, a bridge, the board). */
  owner?: string;
}

/** A contiguous block of ports or addresses served by one handler. */
export class Region {
  /** maxAccess, implMin and implMax (4 bits each), then the unaligned flag. */
  private readonly access: number;
  readonly owner: string;

  constructor(
    readonly name: string,
    readonly size: number,
    readonly ops: RegionOps,
    options: RegionOptions = {},
  ) {
    if (!(size > 0) || !Number.isSafeInteger(size)) {
      throw new MachbusError("region-invalid", `region ${name}: size ${size} is not a positive integer`);
    }
    this.access =
      (options.maxAccess ?? 4) | ((options.implMin ?? 1) << 4) | ((options.implMax ?? 4) << 8) | (options.unaligned ? 1 << 12 : 0);
    this.owner = options.owner ?? name;
  }

  get maxAccess(): number {
    return this.access & 0xf;
  }
  get implMin(): number {
    return (this.access >> 4) & 0xf;
  }
  get implMax(): number {
    return (this.access >> 8) & 0xf;
  }
  get unaligned(): boolean {
    return (this.access & (1 << 12)) !== 0;
  }
}

/**
 * A region placed in a space; `seq` orders equal priorities (the newest wins, as in QEMU). A
 * window shows `size` bytes of its target from `targetBase` on: another space (a bridge window,
 * a BAR of several regions) or a single region (a BAR with one handler).
 */
interface Mapping {
  readonly name: string;
  readonly owner: string;
  readonly target: Region | AddressSpace;
  readonly window: boolean;
  readonly targetBase: number;
  readonly base: number;
  readonly size: number;
  readonly priority: number;
  readonly seq: number;
}

/** One piece of the rendered view: [start, end) served by `region`, whose offset 0 sits at `origin`. */
class FlatRange {
  readonly ops: RegionOps;
  /** Sizes (1|2|4 as bits) the handler takes in one call, so the common case needs no splitting. */
  readonly directSizes: number;
  /** -1 when accesses must be aligned to their size, 0 when the handler takes any alignment. */
  readonly alignCheck: number;

  constructor(
    readonly start: number,
    readonly end: number,
    readonly region: Region,
    readonly origin: number,
  ) {
    this.ops = region.ops;
    let sizes = 0;
    for (const size of [1, 2, 4]) {
      if (size <= region.maxAccess && size >= region.implMin && size <= region.implMax) sizes |= size;
    }
    this.directSizes = region === ALL_ONES ? 0 : sizes;
    this.alignCheck = region.unaligned ? 0 : -1;
  }
}

export interface WindowOptions {
  /** Address in the target shown at the window's base; default: the same address. */
  targetBase?: number;
  /** Default 1, as QEMU maps BARs and bridge windows over the bus's own regions. */
  priority?: number;
  owner?: string;
}

export interface OverlapReport {
  readonly space: string;
  readonly base: number;
  readonly size: number;
  readonly region: string;
  readonly owner: string;
  readonly overlaps: { readonly region: string; readonly owner: string; readonly base: number; readonly size: number }[];
}

const SIZE_MASK = [0, 0xff, 0xffff, 0xffffff, 0xffffffff];
/** One address's entry points in a dispatch table: they know the region's handler and the offset there. */
type PortReader = (size: number, addr: number) => number;
type PortWriter = (size: number, value: number, addr: number) => void;

/** A table space's per-address slot: the table of slots never changes, only what a slot holds. */
class PortEntry {
  constructor(
    public read: PortReader,
    public write: PortWriter,
  ) {}
}
const ALL_ONES = new Region("unassigned", 1, { read: () => 0xffffffff, write: () => {} });
/** Where nothing is mapped: offset = address (QEMU's unassigned region starts at 0), never taken whole. */
const UNASSIGNED = new FlatRange(0, Number.MAX_SAFE_INTEGER, ALL_ONES, 0);
/** An empty range: the search cache's value before any hit. */
const NO_RANGE = new FlatRange(0, 0, ALL_ONES, 0);
const NO_STARTS = new Float64Array(0);
/** Search spaces' unused slow slot. */
const NO_PORT = new PortEntry(
  () => 0xffffffff,
  () => {},
);

function pow2floor(n: number): number {
  return n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

/**
 * An I/O port space or a memory space. Regions are mapped with a priority; the space renders
 * them into a flat view the way QEMU's memory core does, and dispatches 1-, 2- and 4-byte
 * accesses with QEMU's rules: the region holding the first byte takes as much of the access as
 * its size and alignment rules allow, the rest continues at the next address; addresses no
 * region claims read all ones and drop writes.
 *
 * Two ways to look an address up, both behind the same `read` and `write`: spaces built with
 * `dispatchTables` (the CPU-facing I/O space) keep per-address tables, patched for just the
 * addresses a map or unmap changes, so an access costs one table load and a call and a remap
 * costs the size of what moved; other spaces binary-search a flat view rebuilt lazily after
 * changes.
 */
export class AddressSpace {
  private readonly mappings: Mapping[] = [];
  /** Spaces showing this one through windows (told about changes); null until there is one. */
  private parents: AddressSpace[] | null = null;
  private seq = 0;
  /** True when the flat view (every lookup of a search space, a table space's general path) must be rebuilt before use. */
  private stale = true;
  private ranges: FlatRange[] = [];
  private starts = NO_STARTS;
  /** The last range the search found: accesses cluster in one region. */
  private last: FlatRange = NO_RANGE;
  /** Addresses below it dispatch through the tables (0 for search spaces). */
  private readonly tableSize: number;
  /**
   * Table spaces: per address, a slot holding entry points that call the serving region's
   * handler at the right offset when the access is one the region takes whole, else the general
   * path. The table is frozen: a port's slot is a constant to the optimizer, which then checks
   * the slot's entry point and inlines the handler behind it; a remap rewrites the slots of the
   * addresses it changes, nothing else.
   */
  private readonly ports: readonly PortEntry[];
  /** Where a fractional address lands: the general path (all ones, writes dropped). */
  private readonly slowPort: PortEntry;
  private overlapListener: ((report: OverlapReport) => void) | null = null;

  /**
   * `dispatchTables` (for spaces of at most 64 KiB the CPU accesses directly) trades a slot
   * object per address (about 50 bytes) for dispatch through one load.
   */
  constructor(
    readonly name: string,
    readonly size: number,
    options: { dispatchTables?: boolean } = {},
  ) {
    const table = options.dispatchTables === true && size <= 0x10000;
    this.tableSize = table ? size : 0;
    this.slowPort = table
      ? new PortEntry(
          (size, addr) => this.readSlow(addr, size),
          (size, value, addr) => this.writeSlow(addr, size, value),
        )
      : NO_PORT;
    const ports: PortEntry[] = [];
    for (let a = 0; a < this.tableSize; a++) ports.push(new PortEntry(this.slowPort.read, this.slowPort.write));
    this.ports = Object.freeze(ports);
  }

  /** Called when a mapping lands on top of another one of the same priority. */
  onOverlap(listener: ((report: OverlapReport) => void) | null): void {
    this.overlapListener = listener;
  }

  /** Maps `region` at `base`; returns the overlap report if it covers another region of equal priority. */
  map(region: Region, base: number, priority = 0): OverlapReport | null {
    this.checkRange(region.name, base, region.size);
    return this.add({
      name: region.name,
      owner: region.owner,
      target: region,
      window: false,
      targetBase: 0,
      base,
      size: region.size,
      priority,
      seq: 0,
    });
  }

  /**
   * Shows `size` bytes of `target` starting at `targetBase` at [base, base+size) here: a bridge
   * window (same addresses on both sides), a BAR whose contents are a container of registers,
   * or a BAR served by one region. A target space's holes fall through to whatever lies below
   * the window here.
   */
  mapWindow(target: AddressSpace | Region, base: number, size: number, options: WindowOptions = {}): OverlapReport | null {
    this.checkRange(target.name, base, size);
    if (target instanceof AddressSpace) {
      target.parents ??= [];
      if (!target.parents.includes(this)) target.parents.push(this);
    }
    return this.add({
      name: target.name,
      owner: options.owner ?? (target instanceof Region ? target.owner : target.name),
      target,
      window: true,
      targetBase: options.targetBase ?? base,
      base,
      size,
      priority: options.priority ?? 1,
      seq: 0,
    });
  }

  /** Removes the window onto `target` at `base`; of several (BARs may share a region), the one `owner` made. */
  unmapWindow(target: AddressSpace | Region, base: number, owner?: string): void {
    const at = (m: Mapping): boolean => m.window && m.target === target && m.base === base;
    let i = this.mappings.findIndex((m) => at(m) && m.owner === owner);
    if (i < 0) i = this.mappings.findIndex(at);
    if (i < 0) return;
    const [m] = this.mappings.splice(i, 1);
    if (target instanceof AddressSpace && !this.mappings.some((o) => o.target === target)) {
      target.parents!.splice(target.parents!.indexOf(this), 1);
    }
    this.changed(m!.base, m!.base + m!.size);
  }

  unmap(region: Region): void {
    const i = this.mappings.findIndex((m) => !m.window && m.target === region);
    if (i < 0) return;
    const [m] = this.mappings.splice(i, 1);
    this.changed(m!.base, m!.base + m!.size);
  }

  /** The regions mapped directly in this space (not through windows), lowest address first. */
  regions(): { region: Region; base: number; priority: number }[] {
    return this.mappings
      .filter((m) => !m.window)
      .map((m) => ({ region: m.target as Region, base: m.base, priority: m.priority }))
      .sort((a, b) => a.base - b.base);
  }

  /** A guest read of `size` (1, 2 or 4) bytes; unsigned result. */
  read(addr: number, size: number): number {
    const v = (addr >= 0 && addr < this.tableSize ? (this.ports[addr] ?? this.slowPort).read(size, addr) : this.searchRead(addr, size)) | 0;
    // One exit, so the optimizer keeps the value an integer on every path.
    return size === 4 ? v >>> 0 : v & SIZE_MASK[size]!;
  }

  /** A guest write of the low `size` (1, 2 or 4) bytes of `value`. */
  write(addr: number, size: number, value: number): void {
    const v = size === 4 ? value >>> 0 : value & SIZE_MASK[size]!;
    if (addr >= 0 && addr < this.tableSize) (this.ports[addr] ?? this.slowPort).write(size, v, addr);
    else this.searchWrite(addr, size, v);
  }

  private searchRead(addr: number, size: number): number {
    const fr = this.rangeAt(addr);
    const off = addr - fr.origin;
    if ((fr.directSizes & size) !== 0 && (off & (size - 1) & fr.alignCheck) === 0) return fr.ops.read(off, size);
    return this.readSlow(addr, size);
  }

  private searchWrite(addr: number, size: number, value: number): void {
    const fr = this.rangeAt(addr);
    const off = addr - fr.origin;
    if ((fr.directSizes & size) !== 0 && (off & (size - 1) & fr.alignCheck) === 0) fr.ops.write(off, size, value);
    else this.writeSlow(addr, size, value);
  }

  /** The region serving `addr` and the offset within it, or null where nothing is mapped. */
  resolve(addr: number): { region: Region; offset: number } | null {
    const fr = this.rangeAt(addr);
    return fr.region === ALL_ONES ? null : { region: fr.region, offset: addr - fr.origin };
  }

  private add(m: Mapping): OverlapReport | null {
    const overlaps = this.mappings
      .filter((o) => o.priority === m.priority && o.base < m.base + m.size && m.base < o.base + o.size)
      .map((o) => ({ region: o.name, owner: o.owner, base: o.base, size: o.size }));
    this.mappings.push({ ...m, seq: this.seq++ });
    this.changed(m.base, m.base + m.size);
    const report = overlaps.length ? { space: this.name, base: m.base, size: m.size, region: m.name, owner: m.owner, overlaps } : null;
    if (report && this.overlapListener) this.overlapListener(report);
    return report;
  }

  private readSlow(addr: number, size: number): number {
    let result = 0;
    for (let done = 0; done < size;) {
      const fr = this.rangeAt(addr + done);
      const offset = addr + done - fr.origin;
      const l = accessSize(fr.region, size - done, offset);
      const v = dispatchRead(fr.region, offset, l);
      result |= (v & SIZE_MASK[l]!) << (8 * done);
      done += l;
    }
    return result >>> 0;
  }

  private writeSlow(addr: number, size: number, value: number): void {
    for (let done = 0; done < size;) {
      const fr = this.rangeAt(addr + done);
      const offset = addr + done - fr.origin;
      const l = accessSize(fr.region, size - done, offset);
      dispatchWrite(fr.region, offset, l, (value >>> (8 * done)) & SIZE_MASK[l]!);
      done += l;
    }
  }

  /** Binary search of the flat view (after rebuilding it if stale); the last hit is tried first. */
  private rangeAt(addr: number): FlatRange {
    if (!(addr >= 0 && addr < this.size)) return UNASSIGNED;
    if (this.stale) this.render();
    const last = this.last;
    if (addr >= last.start && addr < last.end) return last;
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return UNASSIGNED;
    const fr = this.ranges[hi]!;
    if (addr >= fr.end) return UNASSIGNED;
    this.last = fr;
    return fr;
  }

  /**
   * [from, to) may now resolve differently: table spaces patch their tables for that range at
   * once; the flat view (every access of search spaces, the general path of table spaces) is
   * rebuilt lazily. Spaces showing this one through windows follow.
   */
  private changed(from: number, to: number): void {
    this.stale = true;
    if (this.tableSize !== 0) this.patch(Math.max(from, 0), Math.min(to, this.size));
    for (const p of this.parents ?? []) {
      for (const m of p.mappings) {
        if (m.target !== this) continue;
        const shift = m.base - m.targetBase;
        const a = Math.max(from + shift, m.base);
        const b = Math.min(to + shift, m.base + m.size);
        if (a < b) p.changed(a, b);
      }
    }
  }

  /** Rewrites the dispatch tables for [from, to). */
  private patch(from: number, to: number): void {
    const { ports, slowPort } = this;
    for (let a = from; a < to; a++) {
      ports[a]!.read = slowPort.read;
      ports[a]!.write = slowPort.write;
    }
    for (const r of this.flatten(from, to)) {
      const ops = r.ops;
      // Bound, so that a hot port's handler and its state are constants to the optimizer.
      const readFn = ops.read.bind(ops);
      const writeFn = ops.write.bind(ops);
      for (let a = r.start; a < r.end; a++) {
        const off = a - r.origin;
        // Constant in the closures below, so the optimizer folds the size test away.
        const sizes = wholeSizes(r, off);
        if (sizes === 0) continue;
        ports[a]!.read = (size, addr) => ((sizes & size) !== 0 ? readFn(off, size) : this.readSlow(addr, size));
        ports[a]!.write = (size, value, addr) => {
          if ((sizes & size) !== 0) writeFn(off, size, value);
          else this.writeSlow(addr, size, value);
        };
      }
    }
  }

  /** Rebuilds the flat view of a search-based space. */
  private render(): void {
    const ranges = this.flatten(0, this.size);
    this.ranges = ranges;
    this.starts = Float64Array.from(ranges, (r) => r.start);
    this.last = NO_RANGE;
    this.stale = false;
  }

  /** The flat ranges of this space restricted to [from, to). */
  private flatten(from: number, to: number): FlatRange[] {
    const cuts = new Set<number>([from, to]);
    for (const m of this.mappings) {
      if (m.base + m.size <= from || m.base >= to) continue;
      cuts.add(Math.max(m.base, from));
      cuts.add(Math.min(m.base + m.size, to));
    }
    const points = [...cuts].sort((a, b) => a - b);
    // Highest priority first, newest first among equals.
    const ordered = this.mappings
      .filter((m) => m.base < to && m.base + m.size > from)
      .sort((a, b) => b.priority - a.priority || b.seq - a.seq);
    const out: FlatRange[] = [];
    for (let k = 0; k + 1 < points.length; k++) this.fill(ordered, 0, points[k]!, points[k + 1]!, out);
    return mergeAdjacent(out);
  }

  /** Fills [start, end) from the first mapping (in precedence order) that covers it; windows can leave holes. */
  private fill(ordered: Mapping[], from: number, start: number, end: number, out: FlatRange[]): void {
    for (let j = from; j < ordered.length; j++) {
      const m = ordered[j]!;
      if (m.base > start || m.base + m.size < end) continue;
      const shift = m.base - m.targetBase;
      const target = m.target;
      if (target instanceof Region) {
        // A region, directly or through a window: what lies past its end stays a hole here.
        const regionEnd = shift + target.size;
        if (regionEnd <= start) continue;
        out.push(new FlatRange(start, Math.min(end, regionEnd), target, shift));
        if (regionEnd < end) this.fill(ordered, j + 1, regionEnd, end, out);
        return;
      }
      // A window shows what the target space has there; its holes fall through to lower mappings.
      let cursor = start;
      for (const p of target.flatten(start - shift, end - shift)) {
        const piece = shift === 0 ? p : new FlatRange(p.start + shift, p.end + shift, p.region, p.origin + shift);
        if (piece.start > cursor) this.fill(ordered, j + 1, cursor, piece.start, out);
        out.push(piece);
        cursor = piece.end;
      }
      if (cursor < end) this.fill(ordered, j + 1, cursor, end, out);
      return;
    }
  }

  private checkRange(name: string, base: number, size: number): void {
    if (!Number.isSafeInteger(base) || base < 0 || base + size > this.size) {
      throw new MachbusError(
        "region-invalid",
        `${name}: [0x${base.toString(16)}, +0x${size.toString(16)}) does not fit in ${this.name} (size 0x${this.size.toString(16)})`,
      );
    }
  }
}

/** The access sizes (1|2|4 as bits) `r` takes in one piece at `offset`. */
function wholeSizes(r: FlatRange, offset: number): number {
  let sizes = 0;
  for (const size of [1, 2, 4]) if (r.directSizes & size && (offset & (size - 1) & r.alignCheck) === 0) sizes |= size;
  return sizes;
}

/** QEMU's memory_access_size: bounded by the region's maximum and by the offset's alignment. */
function accessSize(r: Region, l: number, offset: number): number {
  let max = r.maxAccess;
  if (!r.unaligned) {
    const align = offset & -offset;
    if (align !== 0 && align < max) max = align;
  }
  return pow2floor(Math.min(l, max));
}

/** QEMU's access_with_adjusted_size: split into (or widen to) the sizes the handler implements. */
function dispatchRead(r: Region, offset: number, size: number): number {
  const step = Math.max(Math.min(size, r.implMax), r.implMin);
  if (step === size) return r.ops.read(offset, size);
  let v = 0;
  for (let i = 0; i < size; i += step) v |= (r.ops.read(offset + i, step) & SIZE_MASK[step]!) << (8 * i);
  return v >>> 0;
}

function dispatchWrite(r: Region, offset: number, size: number, value: number): void {
  const step = Math.max(Math.min(size, r.implMax), r.implMin);
  if (step === size) {
    r.ops.write(offset, size, value);
    return;
  }
  for (let i = 0; i < size; i += step) r.ops.write(offset + i, step, (value >>> (8 * i)) & SIZE_MASK[step]!);
}

function mergeAdjacent(ranges: FlatRange[]): FlatRange[] {
  const out: FlatRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && last.end === r.start && last.region === r.region && last.origin === r.origin) {
      out[out.length - 1] = new FlatRange(last.start, r.end, r.region, r.origin);
    } else out.push(r);
  }
  return out;
}
