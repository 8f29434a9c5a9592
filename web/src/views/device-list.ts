import { BusDevice, PciDevice, type Machine } from "machbus";
import { h } from "../dom.js";
import { where } from "../session.js";
import type { Selection } from "./slot-map.js";

/** The devices the user added (board chips are listed in the slot map), each with its place and a remove button. */
export function deviceList(machine: Machine, onSelect: (s: Selection) => void, onRemove: (d: PciDevice) => void): HTMLElement {
  const devices = machine.devices().filter((p) => !p.onboard);
  return h(
    "div",
    { class: "device-list", id: "device-list" },
    devices.length
      ? h(
          "table",
          {},
          h(
            "tr",
            {},
            ["device", "id", "where", ""].map((t) => h("th", {}, t)),
          ),
          devices.map(({ device, info }) => {
            const pci = device instanceof PciDevice ? device : null;
            const fn = pci?.function;
            return h(
              "tr",
              { "data-driver": info.name, "data-id": device.id ?? "" },
              h(
                "td",
                {},
                fn ? h("button", { class: "link", onclick: () => onSelect({ bus: fn.bus!.name, devfn: fn.devfn }) }, info.name) : info.name,
              ),
              h("td", {}, device.id ?? ""),
              h("td", {}, fn ? where(fn) : device instanceof BusDevice ? device.address : `ISA bus ${machine.isaBus ?? ""}`),
              h("td", {}, pci ? h("button", { class: "remove", onclick: () => onRemove(pci) }, "remove") : null),
            );
          }),
        )
      : h("p", { class: "empty" }, "No devices besides the board's own."),
  );
}
