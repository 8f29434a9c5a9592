import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, freeSlots, type MachbusError } from "../src/index.js";
import {
  chartSpec,
  checkExperimentSpec,
  experimentJsonSchema,
  formatRow,
  formatSummary,
  parseCommandLine,
  parseExperimentSpec,
  parseResults,
  resolveExperiment,
  runCount,
  runExperiment,
  runKey,
  runOne,
  shardRange,
  splitCommandLine,
  summarize,
  type Experiment,
  type ExperimentRow,
} from "../src/experiment/index.js";

const experiment = (spec: Record<string, unknown>): Experiment => resolveExperiment(checkExperimentSpec({ experiment: 1, ...spec }));
const rows = (e: Experiment): ExperimentRow[] => [...runExperiment(e)];
const bySeed = (list: ExperimentRow[], policy: string): Map<unknown, ExperimentRow> =>
  new Map(list.filter((r) => r.policy === policy).map((r) => [r.seed, r]));

/** The first error a spec gets, as the CLI prints it. */
function specError(text: string): string {
  try {
    parseExperimentSpec(text, "s.yaml");
  } catch (e) {
    return (e as MachbusError).describe();
  }
  return "accepted";
}

describe("experiment specs", () => {
  it("a malformed spec is one line naming the file, line and field", () => {
    const base = "experiment: 1\npolicies: [qemu]\n";
    expect(specError(`${base}workload:\n  type: churn\n  operatons: 5\n`)).toBe("s.yaml:5: workload: unknown key 'operatons'");
    expect(specError(`${base}seedz: 3\nworkload: { type: churn }\n`)).toBe("s.yaml:3: (top level): unknown key 'seedz'");
    expect(specError("experiment: 1\npolicies: [qemu, nosuch]\nworkload: { type: churn }\n")).toMatch(
      /^s\.yaml:2: policies\[1\]: unknown allocation policy 'nosuch' \(policies: append-only, auto-bridge, auto-root-port, explicit-first, .*\)$/,
    );
    expect(specError(`${base}seeds: -5\nworkload: { type: churn }\n`)).toBe("s.yaml:3: seeds: must be a whole number >= 1");
    expect(specError(`${base}workload: { type: churn, operations: -2 }\n`)).toBe(
      "s.yaml:3: workload.operations: must be a whole number >= 0",
    );
    expect(specError(`${base}workload: { type: mix, devices: { min: 5, max: 2 } }\n`)).toBe(
      "s.yaml:3: workload.devices.max: must not be less than min",
    );
    expect(specError(`${base}workload: { type: mix, devices: lots }\n`)).toBe("s.yaml:3: workload.devices: expected number or object");
    expect(specError(`${base}workload: { type: chrun }\n`)).toMatch(
      /^s\.yaml:3: workload\.type: .*'mix' \| 'churn' \| 'growth' \| 'replay'/,
    );
    expect(specError(`${base}workload: { type: churn, drivers: [e1000, VGA] }\n`)).toBe(
      "s.yaml:3: workload.drivers[1]: 'VGA' can't be hot-plugged, and this workload hot-plugs",
    );
    expect(specError(`${base}workload: { type: mix }\nmetrics: [moved]\n`)).toMatch(
      /^s\.yaml:4: metrics\[0\]: moved is measured on workloads that change/,
    );
    expect(specError("experiment: 1\npolicies: [hotplug-reserve, free=4]\nworkload: { type: churn }\n")).toBe(
      `s.yaml:2: policies[1]: 'free=4' is a parameter, not a policy (in a [a, b] list, quote a policy with parameters: "hotplug-reserve,free=4")`,
    );
    expect(specError(`${base}workload: { type: replay, commands: ["-device e1000 -cpu max"] }\n`)).toMatch(
      /^s\.yaml:3: workload\.commands\[0\]: unknown option '-cpu'/,
    );
    expect(specError("experiment: 1\nmachines: [pc, q99]\npolicies: [qemu]\nworkload: { type: mix }\n")).toMatch(
      /^s\.yaml:2: machines\[1\]: unsupported machine type 'q99'/,
    );
  });

  it("the study of docs/experiments.md is a valid spec: 3,000 churn runs", () => {
    const text = readFileSync(new URL("../docs/experiments/address-stability.yaml", import.meta.url), "utf8");
    const e = resolveExperiment(parseExperimentSpec(text, "address-stability.yaml"));
    expect([runCount(e), e.workload.type, e.policies]).toEqual([3000, "churn", ["qemu", "append-only", "explicit-first"]]);
  });

  it("the published JSON Schema is the one specs are checked with", () => {
    const published = JSON.parse(readFileSync(new URL("../docs/experiment.schema.json", import.meta.url), "utf8"));
    expect(published).toEqual(experimentJsonSchema());
  });

  it("resolving fills in defaults, canonical names and the device pool the engine builds without a backend", () => {
    const e = experiment({ machines: ["pc"], policies: ["hotplug-reserve,free=1", "auto-bridge"], workload: { type: "churn" } });
    expect(e.machines).toEqual([Machine.create().type.name]);
    expect(e.policies).toEqual(["hotplug-reserve", "auto-bridge"]);
    expect(e.workload).toEqual({ type: "churn", initial: { min: 6, max: 6 }, operations: { min: 20, max: 20 }, add: 0.5, explicit: 0 });
    expect(e.metrics).toEqual(["moved", "refused", "bridges", "pirqImbalance", "windows"]);
    const pool = e.drivers[e.machines[0]!]!;
    expect(pool).toContain("e1000");
    expect(pool).not.toContain("virtio-blk-pci"); // needs drive=
    expect(pool).not.toContain("VGA"); // cannot be hot-plugged
    expect(pool).not.toContain("pci-bridge");
  });
});

describe("experiment runs", () => {
  const churn = experiment({
    policies: ["qemu", "append-only", "explicit-first", "auto-bridge"],
    seeds: 4,
    workload: { type: "churn", initial: { min: 2, max: 8 }, operations: { min: 4, max: 16 }, explicit: 0.3 },
  });
  const all = rows(churn);

  it("a run is a function of its index: any order, any split into shards, the same rows", () => {
    const total = runCount(churn);
    expect(total).toBe(16);
    const backwards = Array.from({ length: total }, (_, i) => formatRow(runOne(churn, total - 1 - i))).reverse();
    expect(backwards).toEqual(all.map(formatRow));
    const shards = [1, 2, 3].flatMap((i) => {
      return [...runExperiment(churn, shardRange(total, i, 3))];
    });
    expect(shards.map(formatRow)).toEqual(all.map(formatRow));
    expect(runKey(churn, 5)).toEqual({ run: 5, machine: churn.machines[0], policy: "append-only", seed: 1 });
  });

  it("shards are contiguous blocks covering every run once", () => {
    for (const [total, n] of [
      [10, 3],
      [3, 5],
      [1000, 7],
    ] as const) {
      const blocks = Array.from({ length: n }, (_, i) => shardRange(total, i + 1, n));
      expect(blocks[0]!.start).toBe(0);
      expect(blocks[n - 1]!.end).toBe(total);
      for (let i = 1; i < n; i++) expect(blocks[i]!.start).toBe(blocks[i - 1]!.end);
    }
  });

  it("the policies of one seed meet the same workload", () => {
    const qemu = bySeed(all, "qemu");
    for (const policy of churn.policies) {
      for (const [seed, row] of bySeed(all, policy)) expect(row.ops).toBe(qemu.get(seed)!.ops);
    }
  });

  it("hot-plugging never moves a device that is there (F14), whatever the policy", () => {
    expect(all.map((r) => r.moved)).toEqual(all.map(() => 0));
  });

  it("explicit-first never refuses a restart: it keeps every addr= of the command line for its device", () => {
    const refusedRestarts = (policy: string): number =>
      all.filter((r) => r.policy === policy).reduce((n, r) => n + (r.restartRefused as number), 0);
    expect(refusedRestarts("explicit-first")).toBe(0);
    const many = rows(
      experiment({
        policies: ["qemu", "explicit-first"],
        seeds: 8,
        workload: { type: "churn", initial: 8, operations: 20, explicit: 0.5 },
      }),
    );
    const qemu = many.filter((r) => r.policy === "qemu");
    expect(qemu.some((r) => r.restartRefused === 1)).toBe(true);
    expect(many.filter((r) => r.policy === "explicit-first").every((r) => r.restartRefused === 0)).toBe(true);
  });

  it("with device_add only and no addr=, a restart under first fit puts every device where it was", () => {
    const grow = rows(experiment({ policies: ["qemu"], seeds: 5, workload: { type: "churn", initial: 3, operations: 10, add: 1 } }));
    expect(grow.map((r) => [r.restartMoved, r.slotReuse, r.refused])).toEqual(grow.map(() => [0, 0, 0]));
  });

  it("after removals, a restart under first fit moves the devices above the gap", () => {
    const shrink = rows(
      experiment({ policies: ["qemu"], seeds: 12, workload: { type: "churn", initial: 5, operations: 1, add: 0, drivers: ["e1000"] } }),
    );
    // One of five devices in slots 2-6 removed: the restart moves the ones that were above it.
    for (const r of shrink) expect([0, 1, 2, 3, 4]).toContain(r.restartMoved);
    expect(shrink.some((r) => (r.restartMoved as number) > 0)).toBe(true);
    expect(shrink.every((r) => r.devices === 4)).toBe(true);
  });

  it("growth on pc fills every free root slot under first fit; auto-bridge goes on behind bridges until firmware's I/O window runs out", () => {
    // max well past what the I/O window holds, so the catalogue's mix of devices cannot end the run first
    const grown = rows(experiment({ policies: ["qemu", "auto-bridge"], seeds: 1, workload: { type: "growth", max: 1000 } }));
    const rootSlots = freeSlots(Machine.create().rootBus, "e1000").length;
    expect(grown[0]).toMatchObject({ policy: "qemu", devices: rootSlots, saturatedBy: "slots", bridges: 0, refused: 1 });
    expect(grown[1]).toMatchObject({ policy: "auto-bridge", saturatedBy: "layout", exhausted: 1, exhaustedWindow: "io" });
    expect(grown[1]!.devices as number).toBeGreaterThan(rootSlots);
    expect(grown[1]!.bridges as number).toBeGreaterThan(0);
  });

  it("replay builds each command line; a line QEMU refuses is refused under qemu and built under explicit-first", () => {
    const lines = ["-M pc -m 64 -device e1000 -device rtl8139,addr=2", "qemu-system-x86_64 -nodefaults -device 'virtio-net-pci,id=n1'"];
    const out = rows(experiment({ policies: ["qemu", "explicit-first"], workload: { type: "replay", commands: lines } }));
    expect(out.map((r) => [r.policy, r.command, r.machine, r.refused, r.devices])).toEqual([
      ["qemu", 0, Machine.create().type.name, 1, 0],
      ["qemu", 1, Machine.create().type.name, 0, 1],
      ["explicit-first", 0, Machine.create().type.name, 0, 2],
      ["explicit-first", 1, Machine.create().type.name, 0, 1],
    ]);
    expect(out[0]!.firstError).toBe("-device rtl8139,addr=2: PCI: slot 2 function 0 not available for rtl8139, in use by e1000,id=(null)");
    expect(out[0]!.mem32Use).toBeNull();
  });

  it("mix rows measure what the machine holds: irq-balance spreads INTx at least as evenly as first fit on every seed", () => {
    const mixed = rows(
      experiment({ policies: ["qemu", "irq-balance"], seeds: 10, workload: { type: "mix", devices: { min: 4, max: 12 } } }),
    );
    const qemu = bySeed(mixed, "qemu");
    for (const [seed, row] of bySeed(mixed, "irq-balance")) {
      expect(row.devices).toBe(qemu.get(seed)!.devices);
      expect(row.pirqImbalance as number).toBeLessThanOrEqual(qemu.get(seed)!.pirqImbalance as number);
    }
    expect(mixed.every((r) => (r.mem32Use as number) > 0 && r.exhausted === 0)).toBe(true);
  });

  it("only the time metric differs between two runs of the same experiment, and only in timeMs", () => {
    const timed = experiment({ policies: ["qemu"], seeds: 3, workload: { type: "mix" }, metrics: ["refused", "time"] });
    const strip = (r: ExperimentRow): string => formatRow(Object.fromEntries(Object.entries(r).filter(([k]) => k !== "timeMs")));
    const a = rows(timed);
    expect(a.every((r) => typeof r.timeMs === "number" && r.timeMs > 0)).toBe(true);
    expect(rows(timed).map(strip)).toEqual(a.map(strip));
    expect(Object.keys(a[0]!)).toEqual([
      "run",
      "machine",
      "policy",
      "workload",
      "seed",
      "ops",
      "devices",
      "refused",
      "firstError",
      "timeMs",
    ]);
  });
});

describe("command lines for replay", () => {
  it("split as a shell does and read -M, -m, -device, -global, -drive in both spellings", () => {
    expect(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g`)).toEqual(["a", "b c", 'd "e"', "f g"]);
    expect(
      parseCommandLine("qemu-system-x86_64 -M pc-i440fx-2.0 -m 256 --device=e1000,id=n -global e1000.mac=52:54:00:00:00:01 -nodefaults"),
    ).toEqual({
      machine: "pc-i440fx-2.0",
      memory: "256",
      devices: ["e1000,id=n"],
      globals: ["e1000.mac=52:54:00:00:00:01"],
      drives: [],
    });
    expect(() => parseCommandLine("-device")).toThrow("option '-device' needs a value");
  });
});

describe("summaries and charts of results", () => {
  const results: ExperimentRow[] = [
    { run: 0, policy: "a", seed: 0, x: 1, y: 1, note: "n" },
    { run: 1, policy: "a", seed: 1, x: 2, y: 3 },
    { run: 2, policy: "b", seed: 0, x: 1, y: 10 },
    { run: 3, policy: "b", seed: 1, x: 2, y: null },
  ];

  it("per group: runs with a value, mean, median, nearest-rank p95, min and max", () => {
    const groups = summarize(results, ["policy"]);
    expect(groups.map((g) => [g.group.policy, g.runs, g.metrics.map((m) => m.metric)])).toEqual([
      ["a", 2, ["x", "y"]],
      ["b", 2, ["x", "y"]],
    ]);
    expect(groups[0]!.metrics[1]).toEqual({ metric: "y", runs: 2, mean: 2, median: 2, p95: 3, min: 1, max: 3 });
    expect(groups[1]!.metrics[1]).toEqual({ metric: "y", runs: 1, mean: 10, median: 10, p95: 10, min: 10, max: 10 });
    const hundred = summarize(
      Array.from({ length: 100 }, (_, i) => ({ g: 1, v: i + 1 })),
      ["g"],
    )[0]!.metrics[0]!;
    expect([hundred.median, hundred.p95]).toEqual([50.5, 95]);
    expect(formatSummary(groups, "markdown").split("\n").slice(0, 3)).toEqual([
      "| policy | metric | runs | mean | median | p95 | min | max |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      "| a | x | 2 | 1.5 | 1.5 | 2 | 1 | 2 |",
    ]);
  });

  it("results that are not JSONL and charts of fields that are not there are refused naming them", () => {
    expect(() => parseResults('{"run":0}\n[1]\n', "r.jsonl")).toThrow("r.jsonl:2: not a JSON object");
    expect(() => chartSpec(results, { x: "ops", y: "y", file: "r.jsonl" })).toThrow(
      "--x ops: no field 'ops' in r.jsonl (fields: run, policy, seed, x, y, note)",
    );
    expect(() => chartSpec(results, { x: "x", y: "note" })).toThrow("--y note: not a number in every run");
  });

  it("a chart is a Vega-Lite spec: one colour per --by value, the aggregate on y, runs without a value left out", () => {
    const spec = chartSpec(results, { x: "x", y: "y", by: "policy" }) as {
      data: { values: unknown[] };
      mark: unknown;
      encoding: Record<string, Record<string, unknown>>;
    };
    expect(spec.data.values).toHaveLength(3);
    expect(spec.mark).toEqual({ type: "line", point: true });
    expect(spec.encoding.x).toMatchObject({ field: "x", type: "quantitative" });
    expect(spec.encoding.y).toMatchObject({ field: "y", aggregate: "mean" });
    expect(spec.encoding.color).toMatchObject({ field: "policy", type: "nominal" });
    const bars = chartSpec(results, { x: "policy", y: "y" }) as { mark: unknown; encoding: Record<string, Record<string, unknown>> };
    expect(bars.mark).toEqual({ type: "bar" });
    expect(bars.encoding.x).toMatchObject({ field: "policy", type: "nominal" });
  });
});
