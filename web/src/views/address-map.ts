import { PciBridgeDevice, type Machine, type PciFunction } from "machbus";
import { h } from "../dom.js";
import { hex, formatSize } from "../format.js";

type SpaceName = "io" | "memory";

/** One decoded range: a board region mapped directly, a BAR where its function decodes it, or a bridge window. */
interface Use {
  readonly space: SpaceName;
  readonly start: bigint;
  readonly end: bigint; // inclusive
  readonly kind: "board" | "bar" | "window";
  readonly what: string;
}

const IO_END = 0xffffn;

/**
 * The machine's I/O and memory address spaces as it decodes them now: board regions, BARs,
 * bridge windows, the free gaps between them, and the BARs that have no address yet. Legacy
 * ports and RAM are the host emulator's, not the machine's, so they are not listed.
 */
export function addressMap(machine: Machine, layout: () => void): HTMLElement {
  const uses = collect(machine);
  const unmapped = unmappedBars(machine);
  return h(
    "section",
    { class: "address-map", id: "address-map" },
    h("h2", {}, "Address spaces"),
    h(
      "p",
      { class: "hint" },
      "What the machine decodes now. BARs get addresses from firmware or a guest (program one with a config write above, or lay them all out as firmware does).",
      " ",
      h("button", { onclick: layout, class: "layout" }, "Assign BARs as firmware does"),
    ),
    spaceView("I/O space", "io", uses, 0n, IO_END),
    spaceView("Memory space", "memory", uses, null, null),
    unmapped.length
      ? h(
          "div",
          { class: "unmapped" },
          h("h3", {}, `Not mapped (${unmapped.length} BAR${unmapped.length === 1 ? "" : "s"})`),
          h("p", {}, totals(unmapped)),
          h(
            "ul",
            {},
            unmapped.map((u) =>
              h(
                "li",
                { "data-bdf": u.fn.bdf },
                `${u.fn.label} ${u.index === 6 ? "ROM" : `BAR${u.index}`}: ${u.kind}, ${formatSize(u.size)}`,
              ),
            ),
          ),
        )
      : null,
  );
}

function collect(machine: Machine): Use[] {
  const uses: Use[] = [];
  for (const [space, as] of [
    ["io", machine.io],
    ["memory", machine.memory],
  ] as const) {
    for (const { region, base } of as.regions()) {
      uses.push({
        space,
        start: BigInt(base),
        end: BigInt(base + region.size - 1),
        kind: "board",
        what: `${region.name}${region.owner !== region.name ? ` (${region.owner})` : ""}`,
      });
    }
  }
  for (const bus of machine.buses()) {
    for (const fn of bus.functions) {
      if (!fn) continue;
      for (const bar of fn.bars) {
        if (!bar?.mapped) continue;
        uses.push({
          space: bar.isIo ? "io" : "memory",
          start: bar.address,
          end: bar.address + BigInt(bar.size) - 1n,
          kind: "bar",
          what: `${fn.label} ${bar.index === 6 ? "ROM" : `BAR${bar.index}`} ${bar.name}`,
        });
      }
    }
  }
  for (const { device } of machine.devices()) {
    if (!(device instanceof PciBridgeDevice) || !device.hasSecondaryBus) continue;
    for (const w of device.windowsNow()) {
      if (!w.enabled || w.limit < w.base) continue;
      uses.push({
        space: w.kind === "io" ? "io" : "memory",
        start: w.base,
        end: w.limit,
        kind: "window",
        what: `${device.function.label} ${w.kind} window to ${device.secondaryBus.name}`,
      });
    }
  }
  return uses.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end > b.end ? -1 : 1));
}

function spaceView(title: string, space: SpaceName, all: readonly Use[], from: bigint | null, to: bigint | null): HTMLElement {
  const uses = all.filter((u) => u.space === space);
  // Gaps are counted between the outermost ranges (a BAR inside a bridge window is part of the window).
  const outer = uses.filter(
    (u) => !uses.some((o) => o !== u && o.start <= u.start && u.end <= o.end && (o.start < u.start || o.end > u.end)),
  );
  const rows: HTMLElement[] = [];
  let cursor = from;
  let freeTotal = 0n;
  let largestFree = 0n;
  const freeRow = (start: bigint, end: bigint): void => {
    const size = end - start + 1n;
    freeTotal += size;
    if (size > largestFree) largestFree = size;
    rows.push(
      h(
        "tr",
        { class: "free" },
        h("td", { class: "mono" }, hex(start)),
        h("td", { class: "mono" }, hex(end)),
        h("td", {}, formatSize(size)),
        h("td", {}, "free"),
        h("td", {}, ""),
      ),
    );
  };
  for (const u of uses) {
    const isOuter = outer.includes(u);
    if (isOuter && cursor !== null && u.start > cursor) freeRow(cursor, u.start - 1n);
    rows.push(
      h(
        "tr",
        { class: `use ${u.kind}${isOuter ? "" : " nested"}`, "data-kind": u.kind },
        h("td", { class: "mono" }, hex(u.start)),
        h("td", { class: "mono" }, hex(u.end)),
        h("td", {}, formatSize(u.end - u.start + 1n)),
        h("td", {}, u.kind === "bar" ? "BAR" : u.kind === "window" ? "bridge window" : "board"),
        h("td", {}, u.what),
      ),
    );
    if (isOuter && (cursor === null || u.end + 1n > cursor)) cursor = u.end + 1n;
  }
  if (to !== null && cursor !== null && cursor <= to) freeRow(cursor, to);
  const used = outer.reduce((n, u) => n + (u.end - u.start + 1n), 0n);
  return h(
    "div",
    { class: `space space-${space}`, "data-space": space },
    h("h3", {}, title),
    space === "io" ? strip(outer, IO_END + 1n) : null,
    h(
      "p",
      { class: "usage" },
      `${formatSize(used)} decoded in ${outer.length} range${outer.length === 1 ? "" : "s"}`,
      to !== null ? `; ${formatSize(freeTotal)} free, largest free block ${formatSize(largestFree)}` : "",
      ".",
    ),
    rows.length
      ? h(
          "table",
          { class: "space-table" },
          h(
            "tr",
            {},
            ["start", "end", "size", "kind", "what"].map((t) => h("th", {}, t)),
          ),
          rows,
        )
      : h("p", { class: "empty" }, "Nothing mapped."),
  );
}

/** The I/O space drawn to scale, each range at least a hairline. */
function strip(outer: readonly Use[], size: bigint): HTMLElement {
  return h(
    "div",
    { class: "strip", role: "img", "aria-label": "I/O space use" },
    outer.map((u) =>
      h("span", {
        class: `strip-use ${u.kind}`,
        title: `${hex(u.start)}-${hex(u.end)} ${u.what}`,
        style: `left: ${(Number(u.start) / Number(size)) * 100}%; width: max(2px, ${(Number(u.end - u.start + 1n) / Number(size)) * 100}%)`,
      }),
    ),
  );
}

interface UnmappedBar {
  readonly fn: PciFunction;
  readonly index: number;
  readonly kind: string;
  readonly size: number;
}

function unmappedBars(machine: Machine): UnmappedBar[] {
  const out: UnmappedBar[] = [];
  for (const bus of machine.buses()) {
    for (const fn of bus.functions) {
      for (const bar of fn?.bars ?? []) {
        if (!bar || bar.mapped) continue;
        out.push({
          fn: fn!,
          index: bar.index,
          kind: bar.isIo ? "I/O" : bar.kind === "rom" ? "ROM" : bar.is64 ? "64-bit memory" : "32-bit memory",
          size: bar.size,
        });
      }
    }
  }
  return out;
}

function totals(bars: readonly UnmappedBar[]): string {
  const sum = new Map<string, number>();
  for (const b of bars) sum.set(b.kind, (sum.get(b.kind) ?? 0) + b.size);
  return "They need: " + [...sum].map(([kind, size]) => `${formatSize(size)} of ${kind}`).join(", ") + ".";
}
