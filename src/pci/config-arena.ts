import type { ConfigSpace } from "./config-space.js";

/** Whether this host stores integers little endian (every JS host in practice; checked, not assumed). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * One buffer holding the config bytes of every plugged function of a machine. The config-cycle
 * fast path reads a dword with one load from `dwords` at an offset the host's route table gives;
 * the functions' ConfigSpace objects keep working on their slice of it. Masks stay in each
 * ConfigSpace: only guest writes (the slow path) need them.
 */
export class ConfigArena {
  bytes: Uint8Array;
  dwords: Int32Array;
  /** Per dword, 1 where the owning function has a read hook (kept by the host for such functions). */
  readHooked: Uint8Array;
  private readonly offsets = new Map<ConfigSpace, number>();
  private readonly free = new Map<number, number[]>();
  private top = 0;

  constructor(initialBytes = 64 * 256) {
    this.bytes = new Uint8Array(initialBytes);
    this.dwords = new Int32Array(this.bytes.buffer);
    this.readHooked = new Uint8Array(initialBytes >> 2);
  }

  /** Moves a function's config bytes into the arena; its ConfigSpace now reads and writes them there. */
  attach(space: ConfigSpace): number {
    const size = space.size;
    let offset = this.free.get(size)?.pop();
    if (offset === undefined) {
      if (this.top + size > this.bytes.length) this.grow(this.top + size);
      offset = this.top;
      this.top += size;
    }
    const view = this.bytes.subarray(offset, offset + size);
    view.set(space.config);
    space.rebind(view);
    this.offsets.set(space, offset);
    return offset;
  }

  /** Gives a function its own copy of its bytes again (unplug) and frees the slot. */
  detach(space: ConfigSpace): void {
    const offset = this.offsets.get(space);
    if (offset === undefined) return;
    space.rebind(Uint8Array.from(space.config));
    this.offsets.delete(space);
    const list = this.free.get(space.size) ?? [];
    list.push(offset);
    this.free.set(space.size, list);
  }

  offsetOf(space: ConfigSpace): number {
    return this.offsets.get(space) ?? -1;
  }

  private grow(needed: number): void {
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const bytes = new Uint8Array(capacity);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.dwords = new Int32Array(bytes.buffer);
    const readHooked = new Uint8Array(capacity >> 2);
    readHooked.set(this.readHooked);
    this.readHooked = readHooked;
    for (const [space, offset] of this.offsets) space.rebind(bytes.subarray(offset, offset + space.size));
  }
}
