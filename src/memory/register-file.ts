import { describeState, u8Array, type StateDescription } from "../state/description.js";
import type { RegionOps } from "./address-space.js";

export type RegisterFile = RegionOps & { readonly bytes: Uint8Array };

/**
 * Plain little-endian storage for a block of registers without side effects: what a device
 * exposes where machbus models the layout but not the behaviour behind it.
 */
export function registerFile(size: number): RegisterFile {
  const bytes = new Uint8Array(size);
  return {
    bytes,
    read(offset, len) {
      let v = 0;
      for (let i = len - 1; i >= 0; i--) v = (v << 8) | (bytes[offset + i] ?? 0xff);
      return v >>> 0;
    },
    write(offset, len, value) {
      for (let i = 0; i < len && offset + i < size; i++) bytes[offset + i] = (value >>> (8 * i)) & 0xff;
    },
  };
}

/** A register file's bytes as described state called `name`, for a device to keep (function.keepState). */
export function registerFileState(name: string): StateDescription<RegisterFile> {
  return describeState<RegisterFile>({ name, version: 1, fields: [u8Array("bytes")] });
}
