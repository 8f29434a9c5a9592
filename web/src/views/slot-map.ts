import { slotReport, type Machine, type PciBus, type SlotInfo } from "machbus";
import { h, type Child } from "../dom.js";
import { hex2 } from "../format.js";
import { reachable } from "../session.js";

/** A function on the page: its bus by name (bus numbers are the guest's and may be 0 on every unnumbered bus) and devfn. */
export interface Selection {
  readonly bus: string;
  readonly devfn: number;
}

/**
 * Every bus, root first and each bridge's bus below it, as 32 slots: free, taken (by whom),
 * reserved or absent (the board's reason), dedicated to one driver, hotplug-capable or not,
 * the slot report the engine gives `machbus slots`.
 */
export function slotMap(machine: Machine, selected: Selection | null, onSelect: (s: Selection) => void): HTMLElement {
  return h(
    "section",
    { class: "slot-map", id: "slot-map" },
    h("h2", {}, "Buses and slots"),
    legend(),
    slotReport(machine).buses.map((report) => {
      const bus = machine.findBus(report.bus);
      return h(
        "div",
        { class: "bus", "data-bus": bus.name, "data-bus-number": bus.number, style: `margin-left: ${depth(bus) * 1.5}rem` },
        h("h3", {}, busTitle(bus, report.slots)),
        busNote(machine, bus),
        h(
          "div",
          { class: "slots" },
          report.slots.map((s) => slotCell(machine, bus, s, selected, onSelect)),
        ),
      );
    }),
  );
}

function legend(): HTMLElement {
  const item = (cls: string, text: string): HTMLElement => h("span", { class: `legend-item ${cls}` }, text);
  return h(
    "p",
    { class: "legend" },
    item("free", "free"),
    item("dedicated", "free for one driver"),
    item("taken", "taken"),
    item("onboard", "board-fixed"),
    item("reserved", "reserved"),
    item("absent", "absent"),
    h("span", { class: "legend-item no-hotplug" }, "no hotplug"),
    " Hover a slot for the reason; click a function for its config space.",
  );
}

function busTitle(bus: PciBus, slots: readonly SlotInfo[]): string {
  const free = slots.filter((s) => s.state === "free" && !s.onlyFor).length;
  return `${bus.name}: bus ${bus.number}, ${free} free slot${free === 1 ? "" : "s"}`;
}

function busNote(machine: Machine, bus: PciBus): Child {
  const bridge = bus.parentBridge;
  if (!bridge) return h("p", { class: "bus-note" }, "Root bus of the host bridge.");
  const routed = machine.rootBus.findBus(bus.number) === bus;
  return h(
    "p",
    { class: "bus-note" },
    `Behind ${bridge.label}. `,
    routed
      ? `Config cycles to bus ${bus.number} reach it.`
      : h(
          "strong",
          {},
          `Config cycles do not reach it yet: its bridge has secondary bus number ${bus.number} (firmware or a guest numbers it).`,
        ),
  );
}

function depth(bus: PciBus): number {
  let d = 0;
  for (let b = bus; b.parentBridge; b = b.parentBridge.bus!) d++;
  return d;
}

function slotCell(machine: Machine, bus: PciBus, s: SlotInfo, selected: Selection | null, onSelect: (s: Selection) => void): HTMLElement {
  const onboard = s.functions?.length ? s.functions.every((f) => f.onboard) : false;
  const state = s.state === "free" && s.onlyFor ? "dedicated" : onboard ? "onboard" : s.state;
  const why = [
    s.reason ?? (s.state === "free" ? "free" : s.state),
    s.onlyFor ? `only for ${s.onlyFor}` : null,
    s.hotplug ? "hotplug-capable" : s.state === "absent" ? null : "not hotplug-capable",
  ]
    .filter(Boolean)
    .join("; ");
  return h(
    "div",
    {
      class: `slot ${state}${s.hotplug ? "" : " no-hotplug"}`,
      "data-bus": bus.name,
      "data-slot": s.slot,
      "data-state": s.state,
      "data-hotplug": s.hotplug,
      title: `slot ${hex2(s.slot)}: ${why}`,
    },
    h("span", { class: "slot-no" }, hex2(s.slot)),
    s.functions?.length
      ? s.functions.map((f) => {
          const devfn = (s.slot << 3) | f.function;
          const fn = bus.get(devfn)!;
          const isSelected = selected?.bus === bus.name && selected.devfn === devfn;
          const routed = reachable(machine, fn);
          return h(
            "button",
            {
              class: `fn${isSelected ? " selected" : ""}${routed ? "" : " unreachable"}`,
              "data-bus": bus.name,
              "data-devfn": devfn,
              "data-function": f.function,
              "data-driver": f.driver,
              "data-id": f.id ?? "",
              "data-bus-number": bus.number,
              "data-reachable": routed,
              title: `${fn.label}${routed ? "" : " (config cycles do not reach it yet)"}`,
              onclick: () => onSelect({ bus: bus.name, devfn }),
            },
            h("span", { class: "fn-no" }, `.${f.function}`),
            ` ${f.driver}`,
            f.id ? h("span", { class: "fn-id" }, ` ${f.id}`) : null,
          );
        })
      : h("span", { class: "slot-state" }, s.state === "free" ? (s.onlyFor ? `for ${s.onlyFor}` : "free") : s.state),
    s.state === "reserved" || s.state === "absent" || s.onlyFor ? h("span", { class: "slot-reason" }, s.reason ?? "") : null,
  );
}
