import { MachbusError } from "../errors.js";

/** Big-endian writer for state streams (QEMU's migration streams are big-endian too). */
export class ByteWriter {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
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
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** u16 length, then UTF-8. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u16(b.length).bytes(b);
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
 * gives "truncated at byte 812 (reading the config bytes of e1000 section 3)".
 */
export class ByteReader {
  private readonly view: DataView;
  pos = 0;
  /** Describes the current field for errors; callers set it as they go. */
  context = "the header";

  constructor(
    readonly data: Uint8Array,
    private readonly label: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.data.length) {
      throw new MachbusError(
        "state-invalid",
        `${this.label}: truncated at byte ${this.data.length} (reading ${this.context}, ${this.pos + n - this.data.length} more byte${this.pos + n - this.data.length === 1 ? "" : "s"} needed)`,
      );
    }
  }

  get remaining(): number {
    return this.data.length - this.pos;
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
  /** The next `n` bytes: a copy, or with `copy` false a view of the stream (read-only use). */
  bytes(n: number, copy = true): Uint8Array {
    this.need(n);
    const b = copy ? this.data.slice(this.pos, this.pos + n) : this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str(): string {
    const n = this.u16();
    const b = this.bytes(n);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(b);
    } catch {
      throw new MachbusError("state-invalid", `${this.label}: ${this.context} is not valid UTF-8 (at byte ${this.pos - n})`);
    }
  }
  blob(limit: number, copy = true): Uint8Array {
    const n = this.u32();
    if (n > limit) {
      throw new MachbusError(
        "state-invalid",
        `${this.label}: ${this.context} claims ${n} bytes, more than the ${limit} it can hold (at byte ${this.pos - 4})`,
      );
    }
    return this.bytes(n, copy);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib computes it). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
