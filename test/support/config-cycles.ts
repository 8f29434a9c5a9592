import type { Machine } from "../../src/index.js";

/**
 * What a BAR of bus 0, `devfn`, reads after the guest writes all ones to it (its size mask and
 * type bits), through real config cycles; the BAR's value is put back afterwards.
 */
export function probeBar(m: Machine, devfn: number, offset: number): number {
  const old = m.configRead(0, devfn, offset);
  m.configWrite(0, devfn, offset, 4, 0xffffffff);
  const mask = m.configRead(0, devfn, offset);
  m.configWrite(0, devfn, offset, 4, old);
  return mask;
}
