import type { Command } from "commander";
import { LayoutError, planBarLayout } from "../layout/bar-layout.js";
import { formatBarLayout, formatWindows } from "../layout/format-layout.js";
import { addMachineOptions, buildMachine, type MachineCliOptions } from "./machine-options.js";

/** `machbus layout`: where firmware puts every BAR (F15); a layout that does not fit prints the usage report and exits 1. */
export function registerLayoutCommand(program: Command): void {
  addMachineOptions(program.command("layout"))
    .description("where firmware (SeaBIOS on pc) puts every BAR and bridge window, and how full each window is")
    .option("--json", "print the layout as JSON")
    .option("--log", "print the allocation lines SeaBIOS itself prints (PCI: IO, PCI: 32, PCI: map device ...)")
    .action((opts: MachineCliOptions & { json?: boolean; log?: boolean }) => {
      const layout = planBarLayout(buildMachine(opts));
      if (opts.json) process.stdout.write(JSON.stringify(layout, null, 2) + "\n");
      else if (opts.log) process.stdout.write(layout.log.map((l) => l + "\n").join(""));
      else process.stdout.write(layout.fits ? formatBarLayout(layout) : formatWindows(layout));
      if (!layout.fits) throw new LayoutError(layout);
    });
}
