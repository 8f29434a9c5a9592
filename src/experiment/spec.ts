import { z } from "zod";
import { builtinDrivers } from "../../devices/index.js";
import { builtinMachineTypes } from "../../machines/index.js";
import { MachbusError, isMachbusError } from "../errors.js";
import { parseDeviceSpec } from "../machine/device-spec.js";
import { driverInfo } from "../machine/drivers.js";
import { Machine, parseMemorySize } from "../machine/machine.js";
import { parseWith, validateWith } from "../state/machine-config.js";
import { parseCommandLine } from "./command-line.js";

/**
 * Experiment specs (F24): which machine types and allocation policies to compare, on which
 * workload, measuring what. A spec is YAML or JSON (docs/experiments.md, the JSON Schema in
 * docs/experiment.schema.json); `resolveExperiment` turns a checked spec into an Experiment,
 * the complete, self-contained description every worker runs from (defaults filled in, names
 * canonical, device pools listed), so a run depends on nothing but it and its index.
 */
export const EXPERIMENT_FORMAT = 1;

/** What a run can measure; each adds its fields to the run's row (docs/experiments.md lists them). */
export const METRICS = ["moved", "refused", "bridges", "pirqImbalance", "windows", "time"] as const;
export type MetricName = (typeof METRICS)[number];
/** Metrics only workloads that change a running machine (hotplug) have. */
const LIVE_METRICS: readonly MetricName[] = ["moved"];
const LIVE_WORKLOADS = new Set(["churn", "growth"]);

const count = (min: number) => z.number().int("must be a whole number").min(min, `must be a whole number >= ${min}`);
const probability = z.number().min(0, "must be a probability from 0 to 1").max(1, "must be a probability from 0 to 1");
const range = z
  .union([
    count(0),
    z
      .object({ min: count(0), max: count(0) })
      .strict()
      .refine((r) => r.min <= r.max, { message: "must not be less than min", path: ["max"] }),
  ])
  .describe("a count, or { min, max }: a count drawn uniformly from min to max for each run");
const drivers = z
  .array(z.string().min(1))
  .min(1)
  .optional()
  .describe(
    "device specs to draw devices from (DRIVER[,KEY=VALUE]..., without id= or addr=); a spec listed twice is drawn twice as often. Default: every catalogue device that works without a host backend",
  );
const explicit = probability.optional().describe("probability that a device comes with addr= (a slot free on the bare board); default 0");

const mixSchema = z
  .object({
    type: z.literal("mix"),
    devices: range.optional().describe("devices per machine (default { min: 1, max: 12 })"),
    explicit,
    drivers,
  })
  .strict()
  .describe("random device mixes: each run builds one machine with all its devices at once, as a command line does");

const churnSchema = z
  .object({
    type: z.literal("churn"),
    initial: range.optional().describe("devices the machine is created with (default 6)"),
    operations: range.optional().describe("hotplug operations after that (default 20)"),
    add: probability.optional().describe("probability that an operation adds a device rather than removes one (default 0.5)"),
    explicit,
    drivers,
  })
  .strict()
  .describe("random hotplug sequences: device_add and device_del on a running machine, then a restart from its command line");

const growthSchema = z
  .object({
    type: z.literal("growth"),
    max: count(1).optional().describe("stop after this many devices (default 256)"),
    drivers,
  })
  .strict()
  .describe("growth to saturation: device_add of random devices until a slot or the BAR layout runs out");

const replaySchema = z
  .object({
    type: z.literal("replay"),
    commands: z.array(z.string()).min(1).optional().describe("command lines (-M, -m, -device, -global, -drive), one machine each"),
    file: z.string().min(1).optional().describe("a file of command lines, one per line (# comments), relative to the spec"),
  })
  .strict()
  .describe("replay: build the machine of each command line");

const workloadSchema = z.discriminatedUnion("type", [mixSchema, churnSchema, growthSchema, replaySchema]);

const specObject = z
  .object({
    experiment: z.literal(EXPERIMENT_FORMAT).describe("experiment spec format version"),
    name: z.string().optional().describe("what the experiment is about (reports print it)"),
    machines: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe("machine types (with board options, as for --machine); default: the default type"),
    memory: z.union([z.string(), z.number().int().positive()]).optional().describe("guest RAM: bytes, or 64M, 1G (default 128M)"),
    policies: z.array(z.string().min(1)).min(1).describe("allocation policies to compare: NAME[,KEY=VALUE]..., as for --allocator"),
    seeds: count(1).optional().describe("runs per machine type and policy, seeds firstSeed, firstSeed + 1, ... (default 1)"),
    firstSeed: z.number().int().min(0).max(0xffffffff).optional().describe("the first seed (default 0)"),
    workload: workloadSchema,
    metrics: z.array(z.enum(METRICS)).min(1).optional().describe("what to measure (default: every metric the workload has, but time)"),
  })
  .strict();

export type ExperimentSpec = z.infer<typeof specObject>;
export type WorkloadSpec = z.infer<typeof workloadSchema>;

const experimentSchema = specObject.superRefine(checkMeaning);

/** A workload with every default filled in. */
export type Workload =
  | { readonly type: "mix"; readonly devices: Range; readonly explicit: number }
  | { readonly type: "churn"; readonly initial: Range; readonly operations: Range; readonly add: number; readonly explicit: number }
  | { readonly type: "growth"; readonly max: number }
  | { readonly type: "replay"; readonly commands: readonly string[] };

export interface Range {
  readonly min: number;
  readonly max: number;
}

/** A resolved experiment: everything a worker needs, as plain JSON (it travels to threads and other machines). */
export interface Experiment {
  readonly name: string | null;
  /** Canonical machine type names, board options kept. */
  readonly machines: readonly string[];
  readonly memory: string | number | null;
  /** Canonical policy specs (`hotplug-reserve,free=4`; defaults left out). */
  readonly policies: readonly string[];
  readonly firstSeed: number;
  /** Runs per machine type and policy: seeds, or the replay's command lines. */
  readonly seeds: number;
  readonly workload: Workload;
  readonly metrics: readonly MetricName[];
  /** Per machine type: the device specs devices are drawn from (empty for replay). */
  readonly drivers: Readonly<Record<string, readonly string[]>>;
}

/** Parses an experiment spec (YAML or JSON); errors name the file, line and field. */
export function parseExperimentSpec(text: string, file: string): ExperimentSpec {
  return parseWith(experimentSchema, text, file);
}

/** Checks a spec given as an object; errors name `where` and the field. */
export function checkExperimentSpec(value: unknown, where = "experiment"): ExperimentSpec {
  return validateWith(experimentSchema, value, where, () => "");
}

/** The JSON Schema of experiment specs (docs/experiment.schema.json), generated from the schema specs are checked with. */
export function experimentJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "machbus experiment spec",
    ...(z.toJSONSchema(specObject) as Record<string, unknown>),
  };
}

/** What the engine says about `build` (a MachbusError's text), or null when it works. */
function refusal(build: () => unknown): string | null {
  try {
    build();
    return null;
  } catch (e) {
    if (!isMachbusError(e)) throw e;
    return e.describe();
  }
}

/** The checks a schema cannot make: names the engine must know, device specs it must accept, combinations that mean nothing. */
function checkMeaning(spec: ExperimentSpec, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: "custom", path, message });
  const memory = spec.memory;
  if (memory !== undefined) {
    const why = refusal(() => parseMemorySize(memory));
    if (why) return issue(["memory"], why);
  }
  const machines = spec.machines ?? [undefined];
  for (const [i, machine] of machines.entries()) {
    const why = refusal(() => Machine.create({ machine, memory }));
    if (why) return issue(["machines", i], why);
  }
  const seen = new Map<string, number>();
  for (const [i, allocator] of spec.policies.entries()) {
    if (i > 0 && /^[^,=]+=/.test(allocator)) {
      // YAML's flow list [a, b] splits "hotplug-reserve,free=4" in two.
      const joined = `${spec.policies[i - 1]},${allocator}`;
      return issue(
        ["policies", i],
        `'${allocator}' is a parameter, not a policy (in a [a, b] list, quote a policy with parameters: "${joined}")`,
      );
    }
    let canonical = "";
    const why = refusal(() => (canonical = Machine.create({ machine: machines[0], memory, allocator }).allocatorSpec));
    if (why) return issue(["policies", i], why);
    if (seen.has(canonical)) return issue(["policies", i], `'${allocator}' is the policy of policies[${seen.get(canonical)}] again`);
    seen.set(canonical, i);
  }
  const w = spec.workload;
  if (spec.metrics) {
    for (const [i, metric] of spec.metrics.entries()) {
      if (LIVE_METRICS.includes(metric) && !LIVE_WORKLOADS.has(w.type)) {
        return issue(["metrics", i], `${metric} is measured on workloads that change a running machine (churn, growth), not ${w.type}`);
      }
    }
  }
  if (w.type === "replay") {
    if (spec.seeds !== undefined) return issue(["seeds"], "replay runs each command line once (seeds are for random workloads)");
    if (spec.firstSeed !== undefined) return issue(["firstSeed"], "replay runs each command line once (seeds are for random workloads)");
    if (!w.commands === !w.file) return issue(["workload"], "replay takes commands or file (one of them)");
    for (const [i, line] of (w.commands ?? []).entries()) {
      const why = checkCommandLine(line, spec.machines !== undefined);
      if (why) return issue(["workload", "commands", i], why);
    }
    return;
  }
  for (const [i, text] of (w.drivers ?? []).entries()) {
    const why = checkPoolEntry(text, machines[0], memory, LIVE_WORKLOADS.has(w.type));
    if (why) return issue(["workload", "drivers", i], why);
  }
}

/** Why a replayed command line cannot be used as given, or null (the engine may still refuse its machine: that is a result). */
export function checkCommandLine(line: string, specNamesMachines: boolean): string | null {
  let machine: string | null = null;
  const why = refusal(() => (machine = parseCommandLine(line).machine));
  if (why) return why;
  return machine !== null && specNamesMachines ? "the line names a machine type (-M) and the spec lists machines: give one of them" : null;
}

/** Why `text` cannot be a device the workload draws, or null. */
function checkPoolEntry(text: string, machine: string | undefined, memory: string | number | undefined, hotplug: boolean): string | null {
  return refusal(() => {
    const spec = parseDeviceSpec(text);
    if (spec.id !== null || spec.props.some(([k]) => k === "addr")) {
      throw specError(`'${text}': leave out id= and addr= (the workload gives every device an id, and addr= with 'explicit')`);
    }
    const bare = Machine.create({ machine, memory });
    const info = driverInfo(bare.driver(spec.driver));
    if (info.bus !== "pci") throw specError(`'${spec.driver}' is not a PCI device`);
    if (hotplug && !info.hotpluggable) throw specError(`'${spec.driver}' can't be hot-plugged, and this workload hot-plugs`);
    probe(bare, text, { machine, memory }, hotplug);
  });
}

function specError(message: string): MachbusError {
  return new MachbusError("experiment-invalid", message);
}

/** Builds `spec` on `bare` (hot-plugged and taken out again) or on a machine of its own; throws what the engine says. */
function probe(bare: Machine, spec: string, options: { machine?: string; memory?: string | number }, hotplug: boolean): void {
  if (!hotplug) {
    Machine.create({ ...options, devices: [spec] });
    return;
  }
  const id = bare.addDevice(`${spec},id=machbus-probe`).id!;
  bare.removeDevice(id);
}

/** Defaults filled in, names made canonical, device pools listed: the Experiment every run starts from. */
export function resolveExperiment(spec: ExperimentSpec): Experiment {
  const memory = spec.memory ?? null;
  const options = { memory: memory ?? undefined };
  const machines = (spec.machines ?? [builtinMachineTypes.default().name]).map(canonicalMachine);
  const policies = spec.policies.map((allocator) => Machine.create({ ...options, machine: machines[0], allocator }).allocatorSpec);
  const w = spec.workload;
  const live = LIVE_WORKLOADS.has(w.type);
  const metrics = spec.metrics ?? METRICS.filter((m) => m !== "time" && (live || !LIVE_METRICS.includes(m)));
  let workload: Workload;
  if (w.type === "replay") {
    if (!w.commands) throw specError("workload.file: read the file into workload.commands first (the CLI does)");
    workload = { type: "replay", commands: w.commands };
  } else if (w.type === "mix") {
    workload = { type: "mix", devices: toRange(w.devices, { min: 1, max: 12 }), explicit: w.explicit ?? 0 };
  } else if (w.type === "churn") {
    workload = {
      type: "churn",
      initial: toRange(w.initial, 6),
      operations: toRange(w.operations, 20),
      add: w.add ?? 0.5,
      explicit: w.explicit ?? 0,
    };
  } else workload = { type: "growth", max: w.max ?? 256 };
  // Null prototype: machine names are the user's ("__proto__" is a key like any other).
  const drivers: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
  for (const machine of machines) {
    drivers[machine] = w.type === "replay" ? [] : (w.drivers ?? defaultPool({ ...options, machine }, live));
  }
  return {
    name: spec.name ?? null,
    machines,
    memory,
    policies,
    firstSeed: w.type === "replay" ? 0 : (spec.firstSeed ?? 0),
    seeds: workload.type === "replay" ? workload.commands.length : (spec.seeds ?? 1),
    workload,
    metrics,
    drivers,
  };
}

/** A machine type as --machine takes it, with its canonical type name (aliases resolved, board options kept). */
export function canonicalMachine(text: string): string {
  const [head = "", ...options] = text.split(",");
  return [builtinMachineTypes.resolve(head).name, ...options].join(",");
}

function toRange(value: number | Range | undefined, fallback: number | Range): Range {
  const v = value ?? fallback;
  return typeof v === "number" ? { min: v, max: v } : { min: v.min, max: v.max };
}

/** Every user-creatable PCI device of the catalogue but bridges that the machine builds with no host backend, by name. */
function defaultPool(options: { machine: string; memory?: string | number }, hotplug: boolean): string[] {
  const bare = Machine.create(options);
  const out: string[] = [];
  for (const cls of builtinDrivers) {
    const info = driverInfo(cls);
    if (info.bus !== "pci" || !info.userCreatable || info.category === "bridge" || (hotplug && !info.hotpluggable)) continue;
    if (refusal(() => probe(bare, info.name, options, hotplug)) === null) out.push(info.name);
  }
  return out.sort();
}
