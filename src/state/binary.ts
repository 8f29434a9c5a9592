import { MachbusError } from "../errors.js";

/** Big-endian writer for state streams (QEMU's migration streams are big-endian too). */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  /** `capacity`: a first guess at the length, so that a large stream is not copied as it grows. */
  constructor(capacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes (callers writing many values check once). */
  room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.room(1);
    this.view.setUint8(this.length++, v);
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
    return this;
  }
  i32(v: number): this {
    this.room(4);
    this.view.setInt32(this.length, v);
    this.length += 4;
    return this;
  }
  u64(v: bigint): this {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt.asUintN(64, v));
    this.length += 8;
    return this;
  }
  f64(v: number): this {
    this.room(8);
    this.view.setFloat64(this.length, v);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** Every entry of `a`, 2 or 4 bytes each as `width` says. */
  numbers(a: ArrayLike<number>, width: 1 | 2 | 4, from = 0, count = a.length - from): this {
    this.room(count * width);
    const v = this.view;
    let at = this.length;
    if (width === 1) for (let i = 0; i < count; i++) this.buf[at++] = a[from + i]!;
    else if (width === 2) for (let i = 0; i < count; i++, at += 2) v.setUint16(at, a[from + i]!);
    else for (let i = 0; i < count; i++, at += 4) v.setUint32(at, a[from + i]! >>> 0);
    this.length = at;
    return this;
  }
  /** u16 length, then UTF-8. */
  str(s: string): this {
    // Names are nearly always ASCII: write those without an encoder's allocation.
    const n = s.length;
    let ascii = n < 0x10000;
    for (let i = 0; ascii && i < n; i++) ascii = s.charCodeAt(i) < 0x80;
    if (!ascii) {
      const b = new TextEncoder().encode(s);
      return this.u16(b.length).bytes(b);
    }
    this.u16(n).room(n);
    const buf = this.buf;
    for (let i = 0; i < n; i++) buf[this.length + i] = s.charCodeAt(i);
    this.length += n;
    return this;
  }
  /** u32 length, then the bytes. */
  blob(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }
  /** Writes a u32 at an earlier position (a length known only after the body). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }
  /** A copy of what was written. */
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  /** What was written from `start` on, without copying; valid until the next write. */
  since(start: number): Uint8Array {
    return this.buf.subarray(start, this.length);
  }
}

/**
 * Reader that names what it was reading when the stream ends early, so a truncated file
 * gives "truncated at byte 812 (reading the config bytes of e1000 section 3)". Reads stay
 * within [pos, end): the whole data unless a caller bounds them (a section, a state).
 */
export class ByteReader {
  protected readonly view: DataView;
  /** Describes the current field for errors; callers set it as they go (a function: built only for an error). */
  context: string | (() => string) = "the header";

  constructor(
    readonly data: Uint8Array,
    private readonly label: string,
    public pos = 0,
    public end = data.length,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private get reading(): string {
    return typeof this.context === "string" ? this.context : this.context();
  }

  /** Throws unless `n` more bytes lie before `end`. */
  need(n: number): void {
    if (this.pos + n > this.end) throw this.truncated(this.pos + n - this.end);
  }

  /** The error for reading `short` bytes past the end. */
  protected truncated(short: number): Error {
    return new MachbusError(
      "state-invalid",
      `${this.label}: truncated at byte ${this.end} (reading ${this.reading}, ${short} more byte${short === 1 ? "" : "s"} needed)`,
    );
  }

  /** The error for a string that is not UTF-8, starting at byte `at`. */
  protected notUtf8(at: number): Error {
    return new MachbusError("state-invalid", `${this.label}: ${this.reading} is not valid UTF-8 (at byte ${at})`);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }
  /** Entry `i` of `width` bytes from the current position, without moving it (the caller checked the bounds). */
  at(i: number, width: 1 | 2 | 4): number {
    const p = this.pos + i * width;
    return width === 1 ? this.data[p]! : width === 2 ? this.view.getUint16(p) : this.view.getUint32(p);
  }
  /** The next `n` bytes: a copy, or with `copy` false a view of the stream (read-only use). */
  bytes(n: number, copy = true): Uint8Array {
    this.need(n);
    const b = copy ? this.data.slice(this.pos, this.pos + n) : this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str(): string {
    const n = this.u16();
    const b = this.bytes(n, false);
    let ascii = true;
    for (let i = 0; ascii && i < n; i++) ascii = b[i]! < 0x80;
    if (ascii) return n === 0 ? "" : String.fromCharCode.apply(null, b as unknown as number[]);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(b);
    } catch {
      throw this.notUtf8(this.pos - n);
    }
  }
  blob(limit: number, copy = true): Uint8Array {
    const n = this.u32();
    if (n > limit) {
      throw new MachbusError(
        "state-invalid",
        `${this.label}: ${this.reading} claims ${n} bytes, more than the ${limit} it can hold (at byte ${this.pos - 4})`,
      );
    }
    return this.bytes(n, copy);
  }
}

/** Slicing-by-8 tables: table k gives the CRC of a byte followed by k zero bytes. */
const CRC_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++)
    for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n]! >>> 8) ^ t[t[(k - 1) * 256 + n]! & 0xff]!;
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib computes it), eight bytes a step: snapshots checksum megabytes. */
export function crc32(data: Uint8Array): number {
  const t = CRC_TABLES;
  let c = 0xffffffff;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
