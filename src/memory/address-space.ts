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
  constructor(
    readonly start: number,
    readonly end: number,
    readonly region: Region,
    readonly origin: number,
  ) {}
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

function pow2floor(n: number): number {
  return n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

/**
 * An I/O port space or a memory space. Regions are mapped with a priority; the space renders
 * them into a flat view the way QEMU's memory core does, and dispatches 1-, 2- and 4-byte
 * accesses with QEMU's rules: the region holding the first byte takes as much of the access as
 * its size and alignment rules allow, the rest continues at the next address; addresses no
 * region claims read all ones and drop writes.
 */
export class AddressSpace {
  private readonly mappings: Mapping[] = [];
  private readonly parents = new Set<AddressSpace>();
  private seq = 0;
  private dirty = true;
  private ranges: FlatRange[] = [];
  private starts = new Float64Array(0);
  /** Port-indexed view for small (I/O) spaces: index into `ranges`, -1 for unassigned. */
  private readonly lookup: Int32Array | null;
  private overlapListener: ((report: OverlapReport) => void) | null = null;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    this.lookup = size <= 0x10000 ? new Int32Array(size) : null;
  }

  /** Called when a mapping lands on top of another one of the same priority. */
  onOverlap(listener: ((report: OverlapReport) => void) | null): void {
    this.overlapListener = listener;
  }

  /** Maps `region` at `base`; returns the overlap report if it covers another region of equal priority. */
  map(region: Region, base: number, priority = 0): OverlapReport | null {
    this.checkRange(region.name, base, region.size);
    return this.add({ name: region.name, owner: region.owner, region, alias: null, aliasBase: 0, base, size: region.size, priority, seq: 0 });
  }

  /**
   * Shows `size` bytes of `target` starting at `targetBase` at [base, base+size) here: a bridge
   * window (same addresses on both sides) or a BAR whose contents are a container of registers.
   * The target's holes fall through to whatever lies below the window here.
   */
  mapWindow(target: AddressSpace, base: number, size: number, options: WindowOptions = {}): OverlapReport | null {
    this.checkRange(target.name, base, size);
    const report = this.add({
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
    target.parents.add(this);
    return report;
  }

  private add(m: Mapping): OverlapReport | null {
    const overlaps = this.mappings
      .filter((o) => o.priority === m.priority && o.base < m.base + m.size && m.base < o.base + o.size)
      .map((o) => ({ region: o.name, owner: o.owner, base: o.base, size: o.size }));
    this.mappings.push({ ...m, seq: this.seq++ });
    this.invalidate();
    const report = overlaps.length
      ? { space: this.name, base: m.base, size: m.size, region: m.name, owner: m.owner, overlaps }
      : null;
    if (report && this.overlapListener) this.overlapListener(report);
    return report;
  }

  unmapWindow(target: AddressSpace, base: number): void {
    const i = this.mappings.findIndex((m) => m.alias === target && m.base === base);
    if (i < 0) return;
    this.mappings.splice(i, 1);
    if (!this.mappings.some((m) => m.alias === target)) target.parents.delete(this);
    this.invalidate();
  }

  unmap(region: Region): void {
    const i = this.mappings.findIndex((m) => m.region === region);
    if (i < 0) return;
    this.mappings.splice(i, 1);
    this.invalidate();
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

  read(addr: number, size: number): number {
    if (this.dirty) this.render();
    const i = this.indexOf(addr);
    if (i >= 0) {
      const fr = this.ranges[i]!;
      const r = fr.region;
      const off = addr - fr.origin;
      if (size <= r.maxAccess && size >= r.implMin && size <= r.implMax && (r.unaligned || (off & (size - 1)) === 0)) {
        return (r.ops.read(off, size) & SIZE_MASK[size]!) >>> 0;
      }
    }
    return this.readSlow(addr, size);
  }

  write(addr: number, size: number, value: number): void {
    if (this.dirty) this.render();
    const i = this.indexOf(addr);
    if (i >= 0) {
      const fr = this.ranges[i]!;
      const r = fr.region;
      const off = addr - fr.origin;
      if (size <= r.maxAccess && size >= r.implMin && size <= r.implMax && (r.unaligned || (off & (size - 1)) === 0)) {
        r.ops.write(off, size, (value & SIZE_MASK[size]!) >>> 0);
        return;
      }
    }
    this.writeSlow(addr, size, value);
  }

  /** The region serving `addr` and the offset within it, or null where nothing is mapped. */
  resolve(addr: number): { region: Region; offset: number } | null {
    if (this.dirty) this.render();
    const i = this.indexOf(addr);
    if (i < 0) return null;
    const fr = this.ranges[i]!;
    return { region: fr.region, offset: addr - fr.origin };
  }

  private readSlow(addr: number, size: number): number {
    let result = 0;
    for (let done = 0; done < size; ) {
      const { region, offset } = this.pieceAt(addr + done);
      const l = this.accessSize(region, size - done, offset);
      const v = this.dispatchRead(region, offset, l);
      result |= (v & SIZE_MASK[l]!) << (8 * done);
      done += l;
    }
    return result >>> 0;
  }

  private writeSlow(addr: number, size: number, value: number): void {
    for (let done = 0; done < size; ) {
      const { region, offset } = this.pieceAt(addr + done);
      const l = this.accessSize(region, size - done, offset);
      this.dispatchWrite(region, offset, l, (value >>> (8 * done)) & SIZE_MASK[l]!);
      done += l;
    }
  }

  private pieceAt(addr: number): { region: Region; offset: number } {
    const i = addr < this.size ? this.indexOf(addr) : -1;
    if (i < 0) return { region: ALL_ONES, offset: addr };
    const fr = this.ranges[i]!;
    return { region: fr.region, offset: addr - fr.origin };
  }

  /** QEMU's memory_access_size: bounded by the region's maximum and by the offset's alignment. */
  private accessSize(r: Region, l: number, offset: number): number {
    let max = r.maxAccess;
    if (!r.unaligned) {
      const align = offset & -offset;
      if (align !== 0 && align < max) max = align;
    }
    return pow2floor(Math.min(l, max));
  }

  /** QEMU's access_with_adjusted_size: split into (or widen to) the sizes the handler implements. */
  private dispatchRead(r: Region, offset: number, size: number): number {
    const step = Math.max(Math.min(size, r.implMax), r.implMin);
    if (step === size) return r.ops.read(offset, size);
    let v = 0;
    for (let i = 0; i < size; i += step) v |= (r.ops.read(offset + i, step) & SIZE_MASK[step]!) << (8 * i);
    return v >>> 0;
  }

  private dispatchWrite(r: Region, offset: number, size: number, value: number): void {
    const step = Math.max(Math.min(size, r.implMax), r.implMin);
    if (step === size) {
      r.ops.write(offset, size, value);
      return;
    }
    for (let i = 0; i < size; i += step) r.ops.write(offset + i, step, (value >>> (8 * i)) & SIZE_MASK[step]!);
  }

  private indexOf(addr: number): number {
    if (this.lookup !== null) return this.lookup[addr] ?? -1;
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return -1;
    return addr < this.ranges[hi]!.end ? hi : -1;
  }

  private invalidate(): void {
    this.dirty = true;
    for (const p of this.parents) p.invalidate();
  }

  /** Flattens the mappings (and windows onto child spaces) into non-overlapping ranges. */
  private render(): void {
    const ranges = this.flatten(0, this.size);
    this.ranges = ranges;
    this.starts = Float64Array.from(ranges, (r) => r.start);
    if (this.lookup !== null) {
      this.lookup.fill(-1);
      ranges.forEach((r, i) => this.lookup!.fill(i, r.start, r.end));
    }
    this.dirty = false;
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
    for (let k = 0; k + 1 < points.length; k++) {
      const start = points[k]!;
      const end = points[k + 1]!;
      this.fill(ordered, 0, start, end, out);
    }
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
