import type { ConfigMasks, ConfigSpace } from "./config-space.js";

/** Whether this host stores integers little endian (every JS host in practice; checked, not assumed). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The config storage of a machine's plugged functions. One buffer holds every function's config
 * bytes: the config-cycle fast path reads a dword with one load from `dwords` at an offset
 * ConfigRouting gives, and the functions' ConfigSpace objects keep working on their slice of it.
 * Masks stay with each ConfigSpace (only guest writes, the slow path, need them), but functions
 * whose masks are byte for byte the same (every function of one model, as a rule) share one copy.
 */
export class ConfigArena {
  bytes: Uint8Array;
  dwords: Int32Array;
  private readonly offsets = new Map<ConfigSpace, number>();
  /** Mask sets functions share, by a hash of their bytes. */
  private readonly maskSets = new Map<number, ConfigMasks[]>();
  private readonly free = new Map<number, number[]>();
  private top = 0;

  constructor(initialBytes = 64 * 256) {
    this.bytes = new Uint8Array(initialBytes);
    this.dwords = new Int32Array(this.bytes.buffer);
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
    this.shareMasks(space);
    return offset;
  }

  /** Points `space` at an identical mask set already shared, or shares its own from now on. */
  private shareMasks(space: ConfigSpace): void {
    const own = space.masks;
    const bytes = own.bytes;
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    let hash = 0x811c9dc5;
    for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i]!, 0x01000193);
    const sets = this.maskSets.get(hash);
    const same = sets?.find((m) => m === own || equalBytes(m.bytes, bytes));
    if (same) space.shareMasks(same);
    else {
      space.shareMasks(own);
      if (sets) sets.push(own);
      else this.maskSets.set(hash, [own]);
    }
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
    for (const [space, offset] of this.offsets) space.rebind(bytes.subarray(offset, offset + space.size));
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
