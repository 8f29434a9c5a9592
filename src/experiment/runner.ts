import { MachbusError } from "../errors.js";
import { own } from "../own.js";
import { policyAddedDevices, pirqImbalance, round, windowFigures } from "./metrics.js";
import { Rng } from "./rng.js";
import type { Experiment } from "./spec.js";
import { runWorkload } from "./workloads.js";

/**
 * Runs of an experiment. Run i is a pure function of the Experiment and i: its machine type,
 * policy and seed come from i (machine types outermost, then policies, then seeds), and every
 * random choice from the seed alone, so the policies of one seed meet the same workload and a
 * row is the same byte for byte on any worker, thread or host. Only `timeMs` (the `time` metric)
 * differs from one run to the next.
 */

export type RowValue = string | number | null;
/** One run's results: the JSON object of one JSONL line, keys in a fixed order. */
export type ExperimentRow = Readonly<Record<string, RowValue>>;

export interface RunKey {
  readonly run: number;
  readonly machine: string;
  readonly policy: string;
  /** The seed (random workloads) or the command line's index (replay). */
  readonly seed: number;
}

export function runCount(e: Experiment): number {
  return e.machines.length * e.policies.length * e.seeds;
}

export function runKey(e: Experiment, run: number): RunKey {
  if (!Number.isInteger(run) || run < 0 || run >= runCount(e)) {
    throw new MachbusError("experiment-invalid", `run ${run} does not exist (the experiment has runs 0-${runCount(e) - 1})`);
  }
  const perMachine = e.policies.length * e.seeds;
  return {
    run,
    machine: e.machines[Math.floor(run / perMachine)]!,
    policy: e.policies[Math.floor((run % perMachine) / e.seeds)]!,
    seed: e.firstSeed + (run % e.seeds),
  };
}

/** Runs run `run` of `e` on this thread. */
export function runOne(e: Experiment, run: number): ExperimentRow {
  const t0 = performance.now();
  const key = runKey(e, run);
  const metrics = new Set(e.metrics);
  const replay = e.workload.type === "replay";
  const r = runWorkload(
    e.workload,
    {
      // Runs build machines in bulk and no CPU drives them: skip the per-port tables (see MachineOptions).
      options: { machine: key.machine, memory: e.memory ?? undefined, allocator: key.policy, portDispatch: "search" },
      rng: new Rng(key.seed),
      pool: own(e.drivers, key.machine) ?? [],
      measureMoves: metrics.has("moved"),
    },
    key.seed,
  );
  const row: Record<string, RowValue> = {
    run,
    machine: r.machineType ?? key.machine,
    policy: key.policy,
    workload: e.workload.type,
    [replay ? "command" : "seed"]: key.seed,
    ops: r.ops,
    ...(r.hotplugOps === undefined ? {} : { hotplugOps: r.hotplugOps }),
    devices: r.devices,
  };
  if (r.saturatedBy) row.saturatedBy = r.saturatedBy;
  if (metrics.has("moved") && r.live) Object.assign(row, r.live);
  if (metrics.has("refused")) Object.assign(row, { refused: r.refused, firstError: r.firstError });
  const m = r.machine;
  if (metrics.has("bridges")) row.bridges = m ? policyAddedDevices(m) : null;
  if (metrics.has("pirqImbalance")) row.pirqImbalance = m ? pirqImbalance(m) : null;
  if (metrics.has("windows")) {
    Object.assign(row, m ? windowFigures(m) : { ioUse: null, mem32Use: null, mem64Use: null, exhausted: null, exhaustedWindow: null });
  }
  if (metrics.has("time")) row.timeMs = round(performance.now() - t0, 3);
  return row;
}

/** A row as its JSONL line (without the newline). */
export function formatRow(row: ExperimentRow): string {
  return JSON.stringify(row);
}

/** Runs `start` to `end` (default: all) one after another on this thread: small experiments, in a browser too. */
export function* runExperiment(e: Experiment, range: { start?: number; end?: number } = {}): Generator<ExperimentRow> {
  const end = range.end ?? runCount(e);
  for (let run = range.start ?? 0; run < end; run++) yield runOne(e, run);
}

/** Shard `index` (1-based) of `count`: a contiguous block of runs, so shards 1..count concatenated are the whole experiment. */
export function shardRange(total: number, index: number, count: number): { start: number; end: number } {
  return { start: Math.floor(((index - 1) * total) / count), end: Math.floor((index * total) / count) };
}
