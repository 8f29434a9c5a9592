import type { Machine } from "../../src/index.js";

/** The first `length` bytes of fw_cfg item `key`, read through the ports as firmware reads them. */
export function fwCfgBytes(m: Machine, key: number, length: number): Buffer {
  m.ioWrite(0x510, 2, key);
  return Buffer.from(Array.from({ length }, () => m.ioRead(0x511, 1)));
}

/** fw_cfg's file directory (key 0x19) in its order. */
export function fwCfgFiles(m: Machine): { name: string; size: number; select: number }[] {
  const count = fwCfgBytes(m, 0x19, 4).readUInt32BE(0);
  const dir = fwCfgBytes(m, 0x19, 4 + 64 * count);
  return Array.from({ length: count }, (_, i) => {
    const e = dir.subarray(4 + 64 * i, 68 + 64 * i);
    return { name: e.subarray(8).toString("latin1").replace(/\0+$/, ""), size: e.readUInt32BE(0), select: e.readUInt16BE(4) };
  });
}
