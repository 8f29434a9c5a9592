import { MachbusError } from "../errors.js";

/** What a region does with the accesses that reach it; `offset` is relative to the region's start. */
export interface RegionOps {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

type ReadFn = (offset: number, size: number) => number;
type WriteFn = (offset: number, size: number, value: number) => void;
/** One address's entry point in a dispatch table: it knows its region's handler and its offset there. */
type PortReader = (size: number, addr: number) => number;
type PortWriter = (size: number, value: number, addr: number) => void;

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
  readonly readFn: ReadFn;
  readonly writeFn: WriteFn;
  readonly maxAccess: number;
  readonly implMin: number;
  readonly implMax: number;
  readonly unaligned: boolean;
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
    // Bound once: dispatch tables hold these functions directly (no object to look through).
    this.readFn = ops.read.bind(ops);
    this.writeFn = ops.write.bind(ops);
    this.maxAccess = options.maxAccess ?? 4;
    this.implMin = options.implMin ?? 1;
    this.implMax = options.implMax ?? 4;
    this.unaligned = options.unaligned ?? false;
    this.owner = options.owner ?? name;
  }
}

/** A region placed in a space; `seq` orders equal priorities (the newest wins, as in QEMU). */
interface Mapping {
  readonly name: string;
  readonly owner: string;
  readonly region: Region | null; // null: a window onto another space
  readonly alias: AddressSpace | null;
  /** For windows: the address in `alias` shown at `base`. */
  readonly aliasBase: number;
  readonly base: number;
  readonly size: number;
  readonly priority: number;
  readonly seq: number;
}

/** One piece of the rendered view: [start, end) served by `region`, whose offset 0 sits at `origin`. */
class FlatRange {
  /** Sizes (1|2|4 as bits) the handler takes in one call, so the fast path needs no splitting. */
  readonly directSizes: number;
  /** -1 when accesses must be aligned to their size, 0 when the handler takes any alignment. */
  readonly alignCheck: number;

  constructor(
    readonly start: number,
    readonly end: number,
    readonly region: Region,
    readonly origin: number,
  ) {
    let sizes = 0;
    for (const size of [1, 2, 4]) {
      if (size <= region.maxAccess && size >= region.implMin && size <= region.implMax) sizes |= size;
    }
    this.directSizes = sizes;
    this.alignCheck = region.unaligned ? 0 : -1;
  }
}

export interface WindowOptions {
  /** Address in the target space shown at the window's base; default: the same address. */
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
const ALL_ONES = new Region("unassigned", 1, { read: () => 0xffffffff, write: () => {} });
/** Where nothing is mapped: offset = address (QEMU's unassigned region starts at 0), never the fast path. */
const UNASSIGNED = new (class extends FlatRange {
  override readonly directSizes = 0;
})(0, Number.MAX_SAFE_INTEGER, ALL_ONES, 0);

/** An empty range: the search cache's value before any hit. */
const NO_RANGE = new FlatRange(0, 0, ALL_ONES, 0);

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
 * Two ways to look an address up: spaces built with `dispatchTables` (the CPU-facing I/O space)
 * keep per-address tables patched at once on every change, so an access costs one table load;
 * other spaces binary-search a flat view rebuilt lazily after changes.
 */
export class AddressSpace {
  private readonly mappings: Mapping[] = [];
  private readonly parents = new Set<AddressSpace>();
  private seq = 0;
  /** Search-based spaces: 1 when the flat view must be rebuilt before the next access. */
  private stale = 1;
  private ranges: FlatRange[] = [];
  private starts = new Float64Array(0);
  /** The last range the search found: accesses cluster in one region. */
  private last: FlatRange = NO_RANGE;
  /** Table spaces: per address, the flat range serving it (empty otherwise). */
  private readonly table: FlatRange[];
  /**
   * Table spaces: per address, an entry point that calls the serving region's handler at the
   * right offset when the access is one the region takes whole, else the general path.
   */
  private readonly readers: PortReader[];
  private readonly writers: PortWriter[];
  private readonly slowReader: PortReader;
  private readonly slowWriter: PortWriter;
  private overlapListener: ((report: OverlapReport) => void) | null = null;

  /**
   * `dispatchTables` (for spaces of at most 64 KiB the CPU accesses directly) trades 16 bytes
   * per address for dispatch through one table load.
   */
  constructor(
    readonly name: string,
    readonly size: number,
    options: { dispatchTables?: boolean } = {},
  ) {
    const tables = options.dispatchTables === true && size <= 0x10000;
    this.slowReader = (size, addr) => this.readSlow(addr, size);
    this.slowWriter = (size, value, addr) => this.writeSlow(addr, size, value);
    this.readers = tables ? Array.from({ length: size }, () => this.slowReader) : [];
    this.writers = tables ? Array.from({ length: size }, () => this.slowWriter) : [];
    this.table = tables ? Array.from({ length: size }, () => UNASSIGNED) : [];
    if (!tables) {
      this.read = (addr, size) => this.searchRead(addr, size);
      this.write = (addr, size, value) => this.searchWrite(addr, size, value);
      return;
    }
    this.stale = 0;
    this.installEntryPoints();
  }

  /**
   * Table spaces: `read` and `write` over frozen copies of the tables. The optimizer folds a
   * frozen array's elements, so a guest access at a constant port compiles to a direct call of
   * its entry point, with no table load or bounds check. After a change, the next access
   * installs fresh copies (changes come in bursts: plugging, BAR programming).
   */
  private installEntryPoints(): void {
    const readers = Object.freeze(this.readers.slice());
    const writers = Object.freeze(this.writers.slice());
    const limit = this.size;
    this.read = (addr, size) => {
      const v = (addr < limit ? readers[addr]!(size, addr) : this.readSlow(addr, size)) | 0;
      // One exit, so the optimizer keeps the value an integer on every path.
      return size === 4 ? v >>> 0 : v & SIZE_MASK[size]!;
    };
    this.write = (addr, size, value) => {
      if (addr < limit) writers[addr]!(size, size === 4 ? value >>> 0 : value & SIZE_MASK[size]!, addr);
      else this.writeSlow(addr, size, value);
    };
  }

  /** Table spaces: the tables changed; the next access installs entry points over the new ones. */
  private entryPointsStale(): void {
    this.read = (addr, size) => {
      this.installEntryPoints();
      return this.read(addr, size);
    };
    this.write = (addr, size, value) => {
      this.installEntryPoints();
      this.write(addr, size, value);
    };
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
      region,
      alias: null,
      aliasBase: 0,
      base,
      size: region.size,
      priority,
      seq: 0,
    });
  }

  /**
   * Shows `size` bytes of `target` starting at `targetBase` at [base, base+size) here: a bridge
   * window (same addresses on both sides) or a BAR whose contents are a container of registers.
   * The target's holes fall through to whatever lies below the window here.
   */
  mapWindow(target: AddressSpace, base: number, size: number, options: WindowOptions = {}): OverlapReport | null {
    this.checkRange(target.name, base, size);
    target.parents.add(this);
    return this.add({
      name: target.name,
      owner: options.owner ?? target.name,
      region: null,
      alias: target,
      aliasBase: options.targetBase ?? base,
      base,
      size,
      priority: options.priority ?? 1,
      seq: 0,
    });
  }

  unmapWindow(target: AddressSpace, base: number): void {
    const i = this.mappings.findIndex((m) => m.alias === target && m.base === base);
    if (i < 0) return;
    const [m] = this.mappings.splice(i, 1);
    if (!this.mappings.some((o) => o.alias === target)) target.parents.delete(this);
    this.changed(m!.base, m!.base + m!.size);
  }

  unmap(region: Region): void {
    const i = this.mappings.findIndex((m) => m.region === region);
    if (i < 0) return;
    const [m] = this.mappings.splice(i, 1);
    this.changed(m!.base, m!.base + m!.size);
  }

  isMapped(region: Region): boolean {
    return this.mappings.some((m) => m.region === region);
  }

  /** The regions mapped directly in this space, lowest address first. */
  regions(): { region: Region; base: number; priority: number }[] {
    return this.mappings
      .filter((m): m is Mapping & { region: Region } => m.region !== null)
      .map((m) => ({ region: m.region, base: m.base, priority: m.priority }))
      .sort((a, b) => a.base - b.base);
  }

  /** A guest read of `size` (1, 2 or 4) bytes; unsigned result. (Replaced as the tables change: call it, do not keep it.) */
  read!: (addr: number, size: number) => number;
  /** A guest write of the low `size` (1, 2 or 4) bytes of `value`. (Replaced as the tables change: call it, do not keep it.) */
  write!: (addr: number, size: number, value: number) => void;

  private searchRead(addr: number, size: number): number {
    if (this.stale !== 0) this.render();
    const fr = this.search(addr);
    const off = addr - fr.origin;
    const v =
      (fr.directSizes & size) !== 0 && (off & (size - 1) & fr.alignCheck) === 0
        ? fr.region.readFn(off, size) | 0
        : this.readSlow(addr, size) | 0;
    return size === 4 ? v >>> 0 : v & SIZE_MASK[size]!;
  }

  private searchWrite(addr: number, size: number, value: number): void {
    if (this.stale !== 0) this.render();
    const fr = this.search(addr);
    const off = addr - fr.origin;
    if ((fr.directSizes & size) !== 0 && (off & (size - 1) & fr.alignCheck) === 0) {
      fr.region.writeFn(off, size, size === 4 ? value >>> 0 : value & SIZE_MASK[size]!);
      return;
    }
    this.writeSlow(addr, size, value);
  }

  /** The region serving `addr` and the offset within it, or null where nothing is mapped. */
  resolve(addr: number): { region: Region; offset: number } | null {
    const fr = this.rangeAt(addr);
    return fr === UNASSIGNED ? null : { region: fr.region, offset: addr - fr.origin };
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

  private rangeAt(addr: number): FlatRange {
    if (!(addr >= 0 && addr < this.size)) return UNASSIGNED;
    if (this.table.length > 0) return this.table[addr]!;
    if (this.stale !== 0) this.render();
    return this.search(addr);
  }

  /** Binary search of the flat view (large spaces); the last hit is tried first. */
  private search(addr: number): FlatRange {
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
   * once; search spaces rebuild lazily. Spaces showing this one through windows follow.
   */
  private changed(from: number, to: number): void {
    if (this.table.length > 0) this.patch(Math.max(from, 0), Math.min(to, this.size));
    else this.stale = 1;
    for (const p of this.parents) {
      for (const m of p.mappings) {
        if (m.alias !== this) continue;
        const shift = m.base - m.aliasBase;
        const a = Math.max(from + shift, m.base);
        const b = Math.min(to + shift, m.base + m.size);
        if (a < b) p.changed(a, b);
      }
    }
  }

  /** Rewrites the dispatch tables for [from, to). */
  private patch(from: number, to: number): void {
    const { table, readers, writers, slowReader, slowWriter } = this;
    table.fill(UNASSIGNED, from, to);
    readers.fill(slowReader, from, to);
    writers.fill(slowWriter, from, to);
    this.entryPointsStale();
    for (const r of this.flatten(from, to)) {
      table.fill(r, r.start, r.end);
      const { readFn, writeFn } = r.region;
      for (let a = r.start; a < r.end; a++) {
        const off = a - r.origin;
        // Constant in the closures below, so the optimizer folds the size test away.
        const sizes = wholeSizes(r, off);
        if (sizes === 0) continue;
        readers[a] = (size, addr) => ((sizes & size) !== 0 ? readFn(off, size) : this.readSlow(addr, size));
        writers[a] = (size, value, addr) => {
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
    this.stale = 0;
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
    const ordered = [...this.mappings].sort((a, b) => b.priority - a.priority || b.seq - a.seq);
    const out: FlatRange[] = [];
    for (let k = 0; k + 1 < points.length; k++) this.fill(ordered, 0, points[k]!, points[k + 1]!, out);
    return mergeAdjacent(out);
  }

  /** Fills [start, end) from the first mapping (in precedence order) that covers it; windows can leave holes. */
  private fill(ordered: Mapping[], from: number, start: number, end: number, out: FlatRange[]): void {
    for (let j = from; j < ordered.length; j++) {
      const m = ordered[j]!;
      if (m.base > start || m.base + m.size < end) continue;
      if (m.region) {
        out.push(new FlatRange(start, end, m.region, m.base));
        return;
      }
      // A window shows what the target space has there; its holes fall through to lower mappings.
      const shift = m.base - m.aliasBase;
      let cursor = start;
      for (const p of m.alias!.flatten(start - shift, end - shift)) {
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
  if (step === size) return r.readFn(offset, size);
  let v = 0;
  for (let i = 0; i < size; i += step) v |= (r.readFn(offset + i, step) & SIZE_MASK[step]!) << (8 * i);
  return v >>> 0;
}

function dispatchWrite(r: Region, offset: number, size: number, value: number): void {
  const step = Math.max(Math.min(size, r.implMax), r.implMin);
  if (step === size) {
    r.writeFn(offset, size, value);
    return;
  }
  for (let i = 0; i < size; i += step) r.writeFn(offset + i, step, (value >>> (8 * i)) & SIZE_MASK[step]!);
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
