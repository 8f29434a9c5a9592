import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { bundleSize, packageEntries } from "../bench/bundle.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * A user's program for each entry point, importing that entry first (so it must load whatever it
 * needs itself), and the line it prints. They run against the build (`npm test` builds first).
 */
const PROGRAMS: Record<string, { source: string; prints: string }> = {
  machbus: {
    source: `import { Machine, queryPci } from "machbus";
      const m = Machine.create({ devices: ["e1000"] });
      console.log(m.configRead(0, 2 << 3, 0).toString(16), queryPci(m)[0].devices.map((d) => d.slot + "." + d.function).join(" "));`,
    prints: "100e8086 0.0 1.0 1.1 1.3 2.0",
  },
  "machbus/tokens": {
    source: `import { DEVICE_PROPS, EVENTS } from "machbus/tokens";
      const engine = await import("machbus");
      console.log(typeof DEVICE_PROPS, DEVICE_PROPS === engine.DEVICE_PROPS && EVENTS === engine.EVENTS);`,
    prints: "symbol true",
  },
  "machbus/config": {
    source: `import { machineOptionsFromConfig, parseMachineConfig, dumpMachineConfig, formatMachineConfig } from "machbus/config";
      const { Machine } = await import("machbus");
      const config = parseMachineConfig("machbus: 1\\nmachine: { type: pc }\\ndevices:\\n  - { driver: rtl8139, addr: '07.0' }\\n", "m.yaml");
      const m = Machine.create(machineOptionsFromConfig(config, "m.yaml"));
      const dump = formatMachineConfig(dumpMachineConfig(m));
      console.log(m.type.name, m.configRead(0, 7 << 3, 0).toString(16), /mac: "52:54:00:12:34:56"/.test(dump));`,
    prints: "pc-qemu-7.2 813910ec true",
  },
  "machbus/migration": {
    source: `import { compareMachineConfigs, migrationStream, receiveMigration } from "machbus/migration";
      const { Machine } = await import("machbus");
      const { dumpMachineConfig } = await import("machbus/config");
      const source = Machine.create({ devices: ["e1000,id=n"] });
      source.configWrite(0, 2 << 3, 4, 2, 3);
      const copy = receiveMigration(migrationStream(source), { expect: dumpMachineConfig(source) });
      const other = dumpMachineConfig(Machine.create({ machine: "pc-qemu-2.0", devices: ["e1000,id=n"] }));
      const differences = compareMachineConfigs({ config: dumpMachineConfig(source), file: "a" }, { config: other, file: "b" });
      console.log(copy.configRead(0, 2 << 3, 4, 2), differences[0]);`,
    prints: "3 machine type: pc-qemu-7.2 on the source, pc-qemu-2.0 on the destination",
  },
  "machbus/experiment": {
    source: `import { checkExperimentSpec, resolveExperiment, runExperiment, summarize } from "machbus/experiment";
      const spec = { experiment: 1, policies: ["qemu", "append-only"], seeds: 2, workload: { type: "churn", initial: 3, operations: 4 } };
      const rows = [...runExperiment(resolveExperiment(checkExperimentSpec(spec)))];
      console.log(rows.length, rows[0].moved, summarize(rows, ["policy"]).map((g) => g.group.policy + ":" + g.runs).join(" "));`,
    prints: "4 0 qemu:2 append-only:2",
  },
  "machbus/layout": {
    source: `import { LayoutError, assignBarLayout, formatWindows, planBarLayout } from "machbus/layout";
      const { Machine } = await import("machbus");
      const layout = planBarLayout(Machine.create({ devices: ["e1000"] }));
      const io = layout.bars.find((b) => b.device === "e1000" && b.type === "io");
      const roms = ["a", "b", "c"].map((id) => "e1000,id=" + id + ",romsize=0x40000000");
      let refused = "";
      try {
        assignBarLayout(Machine.create({ devices: roms }));
      } catch (e) {
        refused = e instanceof LayoutError ? e.layout.windows.map((w) => w.name).join("+") : String(e);
      }
      console.log(io.address.toString(16), formatWindows(layout).split("\\n")[1].split(/ +/)[0], refused);`,
    prints: "c000 io io+mem32+mem64",
  },
  "machbus/v86": {
    source: `import { attachToV86, v86RamOptions } from "machbus/v86";
      console.log(typeof attachToV86, typeof v86RamOptions);`,
    prints: "function function",
  },
  "machbus/monitor": {
    source: `import { Monitor, formatInfoPci } from "machbus/monitor";
      const { Machine } = await import("machbus");
      const monitor = new Monitor(Machine.create());
      monitor.execute("device_add e1000,id=n");
      const out = monitor.execute("info pci").output;
      console.log(out === formatInfoPci(monitor.machine), out.includes("Ethernet controller: PCI device 8086:100e"));`,
    prints: "true true",
  },
};

describe("package entry points", () => {
  it("every entry point package.json exports has a program here", () => {
    expect(Object.keys(PROGRAMS).sort()).toEqual(packageEntries().sort());
  });

  for (const [entry, { source, prints }] of Object.entries(PROGRAMS)) {
    it(`${entry} loads by its package name in a fresh Node process, first of all, and does its job`, () => {
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", source], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toBe(prints);
      expect(r.status).toBe(0);
    });
  }

  it("every entry point bundles for browsers, and the engine's bundle holds neither the YAML parser nor zod", async () => {
    const sizes = await Promise.all(packageEntries().map(bundleSize));
    const engine = sizes.find((s) => s.entry === "machbus")!;
    expect(engine.packages).not.toContain("yaml");
    expect(engine.packages).not.toContain("zod");
    expect(sizes.find((s) => s.entry === "machbus/config")!.packages).toEqual(["yaml", "zod"]);
  });
});
