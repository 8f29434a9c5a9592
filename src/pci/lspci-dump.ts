import type { Machine } from "../machine/machine.js";
import type { PciBus } from "./bus.js";
import { PCI_CLASS_DEVICE, PCI_DEVICE_ID, PCI_REVISION_ID, PCI_VENDOR_ID } from "./constants.js";
import type { PciFunction } from "./function.js";
import { configLimit } from "./host.js";
import { classDescription } from "./query-pci.js";

/** How much of each function `lspci -x`, `-xxx` and `-xxxx` show. */
export type DumpDepth = 1 | 3 | 4;

/**
 * pciutils' hex dump format (what `lspci -x` prints and `lspci -F FILE` reads back): a header
 * line starting "BB:DD.F " (the rest is for people), lines "OO: xx xx ..." of 16 bytes, a blank
 * line after each function. -x shows 64 bytes, -xxx 256, -xxxx 4096 where the function and its
 * path to the root have extended config space (lspci can then walk every capability).
 */
export function lspciDump(machine: Machine, depth: DumpDepth = 1): string {
  let out = "";
  for (const { fn, busNumber } of guestVisibleFunctions(machine)) {
    out += headerLine(fn, busNumber) + "\n";
    const size = depth === 1 ? 64 : depth === 3 ? 256 : configLimit(fn, fn.space.size);
    for (let line = 0; line < size; line += 16) {
      let text = line.toString(16).padStart(2, "0") + ":";
      for (let d = 0; d < 16; d += 4) {
        const dword = fn.read(line + d, 4, size);
        for (let b = 0; b < 4; b++) text += " " + ((dword >>> (8 * b)) & 0xff).toString(16).padStart(2, "0");
      }
      out += text + "\n";
    }
    out += "\n";
  }
  return out;
}

/** Functions a guest's bus scan finds: numbered buses only, functions 1-7 only behind a function 0. */
export function guestVisibleFunctions(machine: Machine): { fn: PciFunction; busNumber: number }[] {
  const found: { fn: PciFunction; busNumber: number }[] = [];
  const visit = (bus: PciBus, busNumber: number): void => {
    for (const fn of bus) {
      if ((fn.devfn & 7) !== 0 && !bus.get(fn.devfn & ~7)) continue;
      found.push({ fn, busNumber });
    }
  };
  for (let n = 0; n < 256; n++) {
    const bus = machine.rootBus.findBus(n);
    if (bus && bus.number === n) visit(bus, n);
  }
  return found;
}

function headerLine(fn: PciFunction, busNumber: number): string {
  const s = fn.space;
  const classCode = s.get16(PCI_CLASS_DEVICE);
  const what = classDescription(classCode) ?? "Class";
  const hex4 = (v: number): string => v.toString(16).padStart(4, "0");
  const bdf = `${busNumber.toString(16).padStart(2, "0")}:${(fn.devfn >> 3).toString(16).padStart(2, "0")}.${fn.devfn & 7}`;
  const rev = s.get8(PCI_REVISION_ID);
  return `${bdf} ${what} [${hex4(classCode)}]: Device [${hex4(s.get16(PCI_VENDOR_ID))}:${hex4(s.get16(PCI_DEVICE_ID))}]${rev ? ` (rev ${rev.toString(16).padStart(2, "0")})` : ""}`;
}
