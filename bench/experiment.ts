import { readFileSync } from "node:fs";
import { parseExperimentSpec, resolveExperiment, runCount, type Experiment } from "../src/experiment/index.js";

const STUDY = new URL("../../docs/experiments/address-stability.yaml", import.meta.url);

/** The bench's experiment: the churn study of docs/experiments.md, on fewer seeds. */
export function benchExperimentSpec(seeds: number): Experiment {
  const spec = parseExperimentSpec(readFileSync(STUDY, "utf8"), "address-stability.yaml");
  return resolveExperiment({ ...spec, seeds });
}

export interface ExperimentFigures {
  readonly runs: number;
  /** Runs per second on one worker thread (one core). */
  readonly runsPerSecPerCore: number;
  /** Runs per second on two worker threads over that: 2 would be perfect scaling. */
  readonly scaling2: number;
}

/**
 * Throughput of the local runner (the piscina pool `machbus experiment` uses), on 1 and then 2
 * worker threads, in one process run. Each pool first runs 10 runs a thread unmeasured, so thread
 * start-up and the engine's first load and compilation are not counted; a run takes milliseconds, so
 * 300 of them keep the measurement over a second. Throws the runner's one-line error when
 * piscina is not installed.
 */
export async function benchExperiment(seeds = 100): Promise<ExperimentFigures> {
  const { RunPool, runLocally } = await import("../src/cli/experiment-pool.js");
  const e = benchExperimentSpec(seeds);
  const runs = Array.from({ length: runCount(e) }, (_, i) => i);
  const rate = async (threads: number): Promise<number> => {
    const pool = await RunPool.create(threads);
    try {
      const go = async (list: readonly number[]): Promise<void> => runLocally(e, list, { pool, onRow: () => {}, stopping: () => false });
      await go(runs.slice(0, threads * 10));
      const t0 = performance.now();
      await go(runs);
      return runs.length / ((performance.now() - t0) / 1000);
    } finally {
      await pool.destroy();
    }
  };
  const one = await rate(1);
  const two = await rate(2);
  return { runs: runs.length, runsPerSecPerCore: Number(one.toFixed(2)), scaling2: Number((two / one).toFixed(3)) };
}
