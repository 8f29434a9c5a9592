import { PciBridgeDevice, PciDevice, queryPci, type Bar, type Machine, type PciFunction } from "machbus";
import { h, type Child } from "../dom.js";
import { bits, hex, hex2, formatSize } from "../format.js";
import { reachable } from "../session.js";

/** lspci's names for capability ids (classic list, then extended). */
const CAPABILITY_NAMES: Record<number, string> = {
  0x01: "Power Management",
  0x03: "VPD",
  0x04: "Slot ID",
  0x05: "MSI",
  0x09: "Vendor Specific",
  0x0c: "SHPC (hot plug)",
  0x0d: "Bridge subsystem vendor",
  0x10: "PCI Express",
  0x11: "MSI-X",
  0x12: "SATA",
  0x13: "PCI Advanced Features",
};
const EXTENDED_CAPABILITY_NAMES: Record<number, string> = {
  0x0001: "Advanced Error Reporting",
  0x0003: "Device Serial Number",
  0x000b: "Vendor Specific",
  0x000e: "ARI",
  0x0010: "SR-IOV",
  0x0015: "Resizable BAR",
};

/** Names of header registers by offset: type 0 (devices) and type 1 (bridges). */
const COMMON_FIELDS: [number, number, string][] = [
  [0x00, 2, "vendor ID"],
  [0x02, 2, "device ID"],
  [0x04, 2, "command"],
  [0x06, 2, "status"],
  [0x08, 1, "revision"],
  [0x09, 3, "class code"],
  [0x0c, 1, "cache line size"],
  [0x0d, 1, "latency timer"],
  [0x0e, 1, "header type"],
  [0x0f, 1, "BIST"],
  [0x34, 1, "capabilities pointer"],
  [0x3c, 1, "interrupt line"],
  [0x3d, 1, "interrupt pin"],
];
const TYPE0_FIELDS: [number, number, string][] = [
  ...[0, 1, 2, 3, 4, 5].map((i): [number, number, string] => [0x10 + 4 * i, 4, `BAR${i}`]),
  [0x28, 4, "CardBus CIS"],
  [0x2c, 2, "subsystem vendor ID"],
  [0x2e, 2, "subsystem ID"],
  [0x30, 4, "expansion ROM"],
  [0x3e, 1, "min grant"],
  [0x3f, 1, "max latency"],
];
const TYPE1_FIELDS: [number, number, string][] = [
  [0x10, 4, "BAR0"],
  [0x14, 4, "BAR1"],
  [0x18, 1, "primary bus"],
  [0x19, 1, "secondary bus"],
  [0x1a, 1, "subordinate bus"],
  [0x1b, 1, "secondary latency"],
  [0x1c, 1, "I/O base"],
  [0x1d, 1, "I/O limit"],
  [0x1e, 2, "secondary status"],
  [0x20, 2, "memory base"],
  [0x22, 2, "memory limit"],
  [0x24, 2, "prefetchable base"],
  [0x26, 2, "prefetchable limit"],
  [0x28, 4, "prefetchable base upper 32"],
  [0x2c, 4, "prefetchable limit upper 32"],
  [0x30, 2, "I/O base upper 16"],
  [0x32, 2, "I/O limit upper 16"],
  [0x38, 4, "expansion ROM"],
  [0x3e, 2, "bridge control"],
];

interface CapabilityRange {
  readonly name: string;
  readonly offset: number;
  readonly end: number;
  readonly index: number;
}

/** Selected function: identity, BARs, capability chain, and the config space as a hex grid with its masks. */
export function functionView(
  machine: Machine,
  fn: PciFunction,
  device: PciDevice,
  actions: { remove(): void; write(offset: number, size: 1 | 2 | 4, value: number): void; showExtended: boolean; toggleExtended(): void },
): HTMLElement {
  const caps = capabilityRanges(fn, device);
  const routed = reachable(machine, fn);
  return h(
    "section",
    { class: "function-view", id: "function-view", "data-bus": fn.bus!.name, "data-devfn": fn.devfn },
    h(
      "h2",
      {},
      `${fn.bus!.name} slot ${hex2(fn.devfn >> 3)} function ${fn.devfn & 7}: ${device.driver}${device.id ? ` (id ${device.id})` : ""}`,
    ),
    identity(machine, fn, routed),
    h(
      "div",
      { class: "function-actions" },
      h(
        "button",
        { class: "remove", onclick: () => actions.remove(), title: "device_del (or, without an id, rebuild without it)" },
        "Remove device",
      ),
    ),
    device instanceof PciBridgeDevice ? bridgeSummary(device) : null,
    barTable(machine, fn),
    capabilityChain(caps),
    configGrid(fn, caps, actions.showExtended),
    fn.space.size > 256
      ? h(
          "label",
          {},
          h("input", { type: "checkbox", checked: actions.showExtended, onchange: () => actions.toggleExtended() }),
          " show extended config space",
        )
      : null,
    writeForm(fn, actions.write),
  );
}

function identity(machine: Machine, fn: PciFunction, routed: boolean): HTMLElement {
  const s = fn.space;
  const info = routed ? queryPci(machine).find((b) => b.bus === fn.bus!.number) : undefined;
  const desc = info?.devices.find((d) => d.slot === fn.devfn >> 3 && d.function === (fn.devfn & 7))?.class_info.desc;
  const classCode = s.get32(0x08) >>> 8;
  const pin = s.get8(0x3d);
  return h(
    "p",
    { class: "identity" },
    `${desc ?? `class ${hex(classCode >> 8, 4)}`}: PCI device ${hex4(s.get16(0))}:${hex4(s.get16(2))}`,
    fn.isType1 ? " (PCI-to-PCI bridge, type 1 header)" : "",
    pin ? `, interrupt pin ${"ABCD"[pin - 1] ?? "?"}` : ", no interrupt pin",
    `, ${s.size} bytes of config space. `,
    routed
      ? h("span", { class: "routed" }, `Config cycles reach it as ${hex2(fn.bus!.number)}:${hex2(fn.devfn >> 3)}.${fn.devfn & 7}.`)
      : h("strong", {}, "Config cycles do not reach it yet (its bus is not numbered); the grid shows the function's own bytes."),
  );
}

/** A bridge's bus numbers and windows as the guest programmed them (QEMU's `info pci` bridge lines). */
function bridgeSummary(bridge: PciBridgeDevice): HTMLElement {
  const c = bridge.config;
  return h(
    "p",
    { class: "bridge-summary" },
    `Bridge: primary bus ${c.get8(0x18)}, secondary ${c.get8(0x19)}, subordinate ${c.get8(0x1a)}`,
    bridge.hasSecondaryBus ? ` (its bus: ${bridge.secondaryBus.name})` : "",
    ". Windows: ",
    bridge
      .windowsNow()
      .map((w) => `${w.kind} ${w.limit < w.base ? "closed" : `${hex(w.base)}-${hex(w.limit)}${w.enabled ? "" : " (decoding off)"}`}`)
      .join(", "),
    ".",
  );
}

function barTable(machine: Machine, fn: PciFunction): Child {
  const bars = fn.bars.filter((b): b is Bar => b !== undefined);
  if (!bars.length) return h("p", { class: "bars none" }, "No BARs.");
  return h(
    "table",
    { class: "bars" },
    h("caption", {}, "Base address registers"),
    h(
      "tr",
      {},
      ["BAR", "kind", "size", "register", "address", "region"].map((t) => h("th", {}, t)),
    ),
    bars.map((bar) => {
      const reg = fn.barRegister(bar.index);
      const raw = fn.space.get32(reg);
      const rawHigh = bar.is64 ? fn.space.get32(reg + 4) : null;
      return h(
        "tr",
        { "data-bar": bar.index, "data-mapped": bar.mapped },
        h("td", {}, bar.index === 6 ? "ROM" : `BAR${bar.index}`),
        h("td", {}, kindName(bar)),
        h("td", {}, `${formatSize(bar.size)} (${hex(bar.size)})`),
        h("td", { class: "mono" }, `${rawHigh !== null ? hex(rawHigh, 8) + ":" : ""}${hex(raw, 8)}`),
        h(
          "td",
          { class: bar.mapped ? "mapped" : "unmapped" },
          bar.mapped ? `${hex(bar.address)} mapped${behindClosedWindow(machine, fn, bar)}` : notMappedWhy(fn, bar),
        ),
        h("td", {}, bar.name),
      );
    }),
  );
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, "0");
}

function kindName(bar: Bar): string {
  if (bar.kind === "io") return "I/O";
  if (bar.kind === "rom") return "expansion ROM";
  return `${bar.is64 ? "64" : "32"}-bit memory${bar.prefetchable ? ", prefetchable" : ""}`;
}

function notMappedWhy(fn: PciFunction, bar: Bar): string {
  const cmd = fn.space.get16(0x04);
  if (bar.isIo && !(cmd & 1)) return "not mapped: I/O decoding off (command bit 0)";
  if (!bar.isIo && !(cmd & 2)) return "not mapped: memory decoding off (command bit 1)";
  if (bar.kind === "rom" && !(fn.space.get32(fn.barRegister(6)) & 1)) return "not mapped: ROM enable bit clear";
  return "not mapped: no address assigned";
}

/** A BAR decodes on its own bus; the CPU sees it only through every bridge window above it. */
function behindClosedWindow(machine: Machine, fn: PciFunction, bar: Bar): string {
  const start = bar.address;
  const end = start + BigInt(bar.size) - 1n;
  for (let bus = fn.bus!; bus.parentBridge; bus = bus.parentBridge.bus!) {
    const bridge = machine.devices().find((p) => p.device instanceof PciDevice && p.device.function === bus.parentBridge)?.device;
    if (!(bridge instanceof PciBridgeDevice)) continue;
    const open = bridge.windowsNow().some((w) => w.enabled && (w.kind === "io") === bar.isIo && w.base <= start && end <= w.limit);
    if (!open) return ` on ${bus.name}, but no window of ${bridge.function.label} forwards it`;
  }
  return "";
}

function capabilityRanges(fn: PciFunction, device: PciDevice): CapabilityRange[] {
  const used = fn.space.used;
  const classic = device.capabilities
    .list()
    .map((c) => ({ name: CAPABILITY_NAMES[c.id] ?? `capability ${hex(c.id, 2)}`, offset: c.offset }));
  const extended =
    fn.space.size > 256
      ? device.extendedCapabilities
          .list()
          .map((c) => ({ name: EXTENDED_CAPABILITY_NAMES[c.id] ?? `extended capability ${hex(c.id, 4)}`, offset: c.offset }))
      : [];
  const all = [...classic, ...extended];
  const starts = new Set(all.map((c) => c.offset));
  return all.map((c, index) => {
    // A capability's bytes are the used ones from its header up to the next capability or gap.
    let end = c.offset + 2;
    const limit = c.offset < 256 ? 256 : fn.space.size;
    while (end < limit && used[end] && !starts.has(end)) end++;
    return { ...c, end, index };
  });
}

function capabilityChain(caps: readonly CapabilityRange[]): HTMLElement {
  if (!caps.length) return h("p", { class: "capabilities none" }, "Capability list: empty (status bit 4 clear).");
  return h(
    "ol",
    { class: "capabilities" },
    h("span", { class: "cap-head" }, "Capability list from 0x34:"),
    caps.map((c) =>
      h("li", { class: `cap cap-${c.index % 6}`, "data-offset": c.offset }, `${hex(c.offset, 2)} ${c.name} (${c.end - c.offset} bytes)`),
    ),
  );
}

function configGrid(fn: PciFunction, caps: readonly CapabilityRange[], showExtended: boolean): HTMLElement {
  const s = fn.space;
  const size = showExtended ? s.size : Math.min(256, s.size);
  const fields = [...COMMON_FIELDS, ...(fn.isType1 ? TYPE1_FIELDS : TYPE0_FIELDS)];
  const bytes = new Uint8Array(size);
  // What the function answers: its own read path (read hooks first), dword by dword.
  for (let off = 0; off < size; off += 4) {
    const v = fn.read(off, 4, s.size);
    bytes[off] = v & 0xff;
    bytes[off + 1] = (v >>> 8) & 0xff;
    bytes[off + 2] = (v >>> 16) & 0xff;
    bytes[off + 3] = v >>> 24;
  }
  const rows: HTMLElement[] = [];
  for (let row = 0; row < size; row += 16) {
    const cells: HTMLElement[] = [];
    for (let off = row; off < row + 16; off++) {
      const w = s.wmask[off]!;
      const w1c = s.w1cmask[off]!;
      const cap = caps.find((c) => off >= c.offset && off < c.end);
      const field = off < 0x40 ? fields.find(([o, len]) => off >= o && off < o + len)?.[2] : cap?.name;
      const cls = [
        w1c ? "w1c" : w === 0xff ? "w-all" : w ? "w-some" : "ro",
        cap ? `cap cap-${cap.index % 6}` : "",
        off === cap?.offset ? "cap-start" : "",
      ];
      cells.push(
        h(
          "td",
          {
            class: cls.filter(Boolean).join(" "),
            "data-offset": off,
            title: `${hex(off, 3)}${field ? ` ${field}` : ""}: ${hex(bytes[off]!, 2)} = ${bits(bytes[off]!)}b; writable ${bits(w)}b${w1c ? `; write-1-to-clear ${bits(w1c)}b` : ""}`,
          },
          hex2(bytes[off]!),
        ),
      );
    }
    rows.push(h("tr", {}, h("th", { scope: "row" }, hex(row, 3)), cells));
  }
  return h(
    "div",
    { class: "grid-wrap" },
    h(
      "table",
      { class: "config-grid", "data-bus": fn.bus!.name, "data-devfn": fn.devfn },
      h("caption", {}, "Config space"),
      h(
        "tr",
        {},
        h("th", {}),
        Array.from({ length: 16 }, (_, i) => h("th", { scope: "col" }, i.toString(16))),
      ),
      rows,
    ),
    h(
      "p",
      { class: "legend" },
      h("span", { class: "legend-item ro" }, "read-only"),
      h("span", { class: "legend-item w-some" }, "some bits writable"),
      h("span", { class: "legend-item w-all" }, "all bits writable"),
      h("span", { class: "legend-item w1c" }, "write-1-to-clear bits"),
      " Coloured outline: a capability's bytes. Hover a byte for its register and bit masks.",
    ),
  );
}

function writeForm(fn: PciFunction, write: (offset: number, size: 1 | 2 | 4, value: number) => void): HTMLElement {
  const offset = h("input", { name: "offset", size: 6, value: "0x04", "aria-label": "offset" });
  const size = h(
    "select",
    { name: "size", "aria-label": "size" },
    h("option", { value: "1" }, "byte"),
    h("option", { value: "2", selected: true }, "word"),
    h("option", { value: "4" }, "dword"),
  );
  const value = h("input", { name: "value", size: 12, value: "0x0003", "aria-label": "value" });
  return h(
    "form",
    {
      class: "write-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        write(Number(offset.value), Number(size.value) as 1 | 2 | 4, Number(value.value));
      },
    },
    `Guest config write to ${fn.label}: offset `,
    offset,
    " size ",
    size,
    " value ",
    value,
    " ",
    h("button", { type: "submit" }, "Write"),
    h("span", { class: "hint" }, " (masks apply: read-only bits stay, w1c bits clear; command 0x0003 turns on I/O and memory decoding)"),
  );
}
