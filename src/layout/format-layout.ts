import { formatSize, hex0x, type BarLayout } from "./bar-layout.js";

/** `machbus layout`: the board's windows and their use, then every BAR and bridge window in SeaBIOS's order. */
export function formatBarLayout(layout: BarLayout): string {
  const ram = `${formatSize(layout.ramSize)} RAM (${formatSize(layout.ramBelow4g)} below 4 GiB, ${formatSize(layout.ramAbove4g)} above)`;
  let out = `BAR layout as SeaBIOS 1.16 assigns it on ${layout.machineType} with ${ram}\n\n`;
  out += formatWindows(layout);
  if (!layout.fits) return out;
  out += "\nBARs, in the order firmware maps them:\n";
  out += table(
    layout.bars.map((b) => [b.bdf, b.device, `BAR${b.bar}`, b.type, b.is64 ? "64-bit" : "", hex0x(b.address), formatSize(b.size)]),
    "  ",
  );
  if (layout.bridgeWindows.length) {
    out += "\nBridge windows:\n";
    out += table(
      layout.bridgeWindows.map((w) => [
        w.bdf,
        w.device,
        `bus ${w.secondaryBus}`,
        w.type,
        w.is64 ? "64-bit" : "",
        w.size ? `${hex0x(w.base)}-${hex0x(w.base + w.size - 1)}` : "closed",
        formatSize(w.size),
      ]),
      "  ",
    );
  }
  return out;
}

/** The usage report: per window its range, size, what fitted, what was asked for, what is free. */
export function formatWindows(layout: BarLayout): string {
  const rows = [["window", "range", "size", "used", "requested", "free", "largest free block"]];
  for (const w of layout.windows) {
    rows.push([
      w.name,
      `${hex0x(w.start)}-${hex0x(w.end)}`,
      formatSize(w.size),
      formatSize(w.used),
      formatSize(w.requested),
      formatSize(w.free),
      formatSize(w.largestFree),
    ]);
  }
  return table(rows, "");
}

function table(rows: string[][], indent: string): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join("  ")
          .trimEnd() +
        "\n",
    )
    .join("");
}
