import type { Machine } from "../../src/index.js";

/** The first `length` bytes of fw_cfg item `key`, read as firmware does (select at 0x510, bytes from 0x511). */
export function fwCfgItem(m: Machine, key: number, length: number): number[] {
  m.ioWrite(0x510, 2, key);
  return Array.from({ length }, () => m.ioRead(0x511, 1));
}

export interface FwCfgFile {
  name: string;
  size: number;
  select: number;
}

/** The file directory (item 0x19), as firmware reads it. */
export function fwCfgDirectory(m: Machine): FwCfgFile[] {
  const count = Buffer.from(fwCfgItem(m, 0x19, 4)).readUInt32BE(0);
  const dir = Buffer.from(fwCfgItem(m, 0x19, 4 + 64 * count));
  return Array.from({ length: count }, (_, i) => {
    const e = dir.subarray(4 + 64 * i, 68 + 64 * i);
    return { name: e.subarray(8).toString("latin1").replace(/\0+$/, ""), size: e.readUInt32BE(0), select: e.readUInt16BE(4) };
  });
}

/** A file's bytes through the ports, or undefined when the directory does not list it. */
export function fwCfgFile(m: Machine, name: string): Uint8Array | undefined {
  const file = fwCfgDirectory(m).find((f) => f.name === name);
  return file && Uint8Array.from(fwCfgItem(m, file.select, file.size));
}
