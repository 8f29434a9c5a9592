import type { PciBus } from "../pci/bus.js";
import { pciFunc } from "../pci/constants.js";
import type { Machine } from "./machine.js";

/** One slot of one bus, as `machbus slots` reports it. */
export interface SlotInfo {
  readonly slot: number;
  readonly state: "free" | "taken" | "reserved" | "absent";
  /** Why the slot is not free: who holds it, or the board's reason. */
  readonly reason?: string;
  /** The functions in the slot (taken slots), with the policy that chose an automatic address or added the device. */
  readonly functions?: { function: number; driver: string; id: string | null; onboard: boolean; placedBy?: string; addedBy?: string }[];
  /** For free slots only dedicated to one driver. */
  readonly onlyFor?: string;
  /** For free slots: what the allocation policy keeps the slot for (hotplug-reserve, auto-bridge, ...). */
  readonly policy?: string;
  readonly hotplug: boolean;
}

export interface SlotReport {
  /** The machine's allocation policy, as a spec ("qemu", "hotplug-reserve,free=2"). */
  readonly allocator: string;
  readonly buses: BusSlots[];
}

export interface BusSlots {
  readonly bus: string;
  /** The bus number the guest gave it (0 on an unnumbered bridge). */
  readonly number: number;
  readonly slots: SlotInfo[];
}

/** What every slot of every bus holds, and why the taken ones are taken (the seed thread's "available slots" query). */
export function slotReport(machine: Machine): SlotReport {
  return {
    allocator: machine.allocatorSpec,
    buses: machine.buses().map((bus) => ({ bus: bus.name, number: bus.number, slots: busSlots(machine, bus) })),
  };
}

function busSlots(machine: Machine, bus: PciBus): SlotInfo[] {
  const out: SlotInfo[] = [];
  for (let slot = 0; slot < 32; slot++) {
    const hotplug = bus.isHotplugSlot(slot);
    const fns = [...bus].filter((fn) => fn.devfn >> 3 === slot);
    const rule = bus.slotRules.get(slot);
    if (fns.length) {
      const functions = fns.map((fn) => {
        const placed = machine.devices().find((p) => p.device === fn.owner);
        const f: NonNullable<SlotInfo["functions"]>[number] = {
          function: pciFunc(fn.devfn),
          driver: fn.owner.driver,
          id: fn.owner.id,
          onboard: placed?.onboard ?? false,
        };
        if (placed?.placedBy) f.placedBy = placed.placedBy;
        if (placed?.addedBy) f.addedBy = placed.addedBy;
        return f;
      });
      const who = functions.map((f) => `${f.driver}${f.id ? ` (id ${f.id})` : ""} at .${f.function}${policyMark(f)}`).join(", ");
      const onboard = functions.every((f) => f.onboard) ? "onboard: " : "";
      out.push({ slot, state: "taken", reason: `${onboard}${who}`, functions, hotplug });
    } else if (rule?.kind === "absent") {
      out.push({ slot, state: "absent", reason: "not wired on this board", hotplug: false });
    } else if (rule?.kind === "reserved" || bus.isReserved(slot << 3)) {
      out.push({ slot, state: "reserved", reason: rule?.kind === "reserved" ? rule.reason : "reserved by the board", hotplug });
    } else {
      const policy = machine.allocator.slotNote?.(bus, slot);
      const free: SlotInfo =
        rule?.kind === "dedicated"
          ? { slot, state: "free", onlyFor: rule.driver, reason: rule.reason, hotplug }
          : { slot, state: "free", hotplug };
      out.push(policy ? { ...free, policy } : free);
    }
  }
  return out;
}

/** The report as text: the policy, then one line per slot, free slots summarised per bus. */
export function formatSlotReport(report: SlotReport): string {
  let out = `allocation policy: ${report.allocator}\n`;
  for (const bus of report.buses) {
    const free = bus.slots.filter((s) => s.state === "free" && !s.onlyFor).map((s) => hex2(s.slot));
    out += `bus ${bus.bus} (number ${bus.number}): ${free.length} free slot${free.length === 1 ? "" : "s"}${free.length ? ` (${compress(bus.slots.filter((s) => s.state === "free" && !s.onlyFor).map((s) => s.slot))})` : ""}\n`;
    for (const s of bus.slots) {
      if (s.state === "free" && !s.onlyFor && !s.policy) continue;
      const what =
        s.state !== "free"
          ? `${s.state}: ${s.reason}`
          : [s.onlyFor ? `free, only for ${s.onlyFor} (${s.reason})` : "free", s.policy].filter(Boolean).join(", ");
      out += `  ${hex2(s.slot)}  ${what}${s.hotplug || s.state === "absent" ? "" : " [no hotplug]"}\n`;
    }
  }
  return out;
}

/** " [auto: qemu]" for an address a policy chose, " [added by auto-bridge]" for a device it added. */
function policyMark(f: { placedBy?: string; addedBy?: string }): string {
  return f.addedBy ? ` [added by ${f.addedBy}]` : f.placedBy ? ` [auto: ${f.placedBy}]` : "";
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** "02-07, 09, 0b-1f" */
function compress(slots: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < slots.length;) {
    let j = i;
    while (j + 1 < slots.length && slots[j + 1] === slots[j]! + 1) j++;
    parts.push(i === j ? hex2(slots[i]!) : `${hex2(slots[i]!)}-${hex2(slots[j]!)}`);
    i = j + 1;
  }
  return parts.join(", ");
}
