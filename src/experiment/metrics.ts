import { planBarLayout } from "../layout/bar-layout.js";
import type { Machine } from "../machine/machine.js";
import { linkLoad } from "../machine/policies/irq-balance.js";
import { PciDevice } from "../pci/device.js";
import type { PciFunction } from "../pci/function.js";

/**
 * What an experiment measures on a machine: where each device is (to count moves), how evenly
 * INTx is spread over the board's links, how full the BAR windows are, and what a policy added.
 */

/** A function's address as the guest sees it: slot.function of each bridge down from the root, then its own ("1f.0/01.0"). */
export function addressOf(fn: PciFunction): string {
  const parts: string[] = [];
  for (let f: PciFunction | null = fn; f; f = f.bus?.parentBridge ?? null) {
    parts.push(`${(f.devfn >> 3).toString(16).padStart(2, "0")}.${f.devfn & 7}`);
  }
  return parts.reverse().join("/");
}

/** Address of every PCI device among `ids`, by id. */
export function deviceAddresses(machine: Machine, ids: Iterable<string>): Map<string, string> {
  const wanted = new Set(ids);
  const out = new Map<string, string>();
  for (const { device } of machine.devices()) {
    if (device instanceof PciDevice && device.id !== null && wanted.has(device.id)) out.set(device.id, addressOf(device.function));
  }
  return out;
}

/** Devices present in both maps whose address differs. */
export function movedDevices(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): number {
  let moved = 0;
  for (const [id, addr] of before) if (after.has(id) && after.get(id) !== addr) moved++;
  return moved;
}

/** Devices an allocation policy added to make room (auto-bridge's bridges). */
export function policyAddedDevices(machine: Machine): number {
  return machine.devices().filter((p) => p.addedBy !== undefined && p.device instanceof PciDevice).length;
}

/** INTx imbalance: functions on the busiest interrupt link minus those on the quietest (PIRQ A-D on pc). */
export function pirqImbalance(machine: Machine): number {
  const load = linkLoad(machine);
  const counts = [0, 1, 2, 3].map((link) => load.get(link) ?? 0);
  for (const [link, n] of load) if (link > 3) counts.push(n);
  return Math.max(...counts) - Math.min(...counts);
}

export interface WindowFigures {
  /** used / size of each board window, rounded to 6 digits. */
  readonly ioUse: number;
  readonly mem32Use: number;
  readonly mem64Use: number;
  /** 1 when firmware would run out of a window (the layout does not fit), else 0. */
  readonly exhausted: 0 | 1;
  /** The window that ran out, or null. */
  readonly exhaustedWindow: string | null;
}

/** How full the board's BAR windows are under firmware's layout (planBarLayout), and whether one ran out. */
export function windowFigures(machine: Machine): WindowFigures {
  const layout = planBarLayout(machine);
  const use = (name: string): number => {
    const w = layout.windows.find((x) => x.name === name);
    return w && w.size > 0 ? round(w.used / w.size) : 0;
  };
  return {
    ioUse: use("io"),
    mem32Use: use("mem32"),
    mem64Use: use("mem64"),
    exhausted: layout.fits ? 0 : 1,
    exhaustedWindow: layout.failure?.window ?? null,
  };
}

/** Rounds to 6 significant decimals, so rows stay short and identical wherever they are computed. */
export function round(x: number, digits = 6): number {
  return Number(x.toFixed(digits));
}
