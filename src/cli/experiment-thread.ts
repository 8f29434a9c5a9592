import "reflect-metadata";
import { isMachbusError } from "../errors.js";
import { formatRow, runOne } from "../experiment/runner.js";
import type { Experiment } from "../experiment/spec.js";

/** A batch of runs for a pool thread: runs start to end - 1 of the experiment. */
export interface RunBatch {
  readonly experiment: Experiment;
  readonly start: number;
  readonly end: number;
}

/** The rows of a batch, or those before a run that failed and why it did. */
export interface BatchResult {
  readonly lines: string[];
  readonly error?: { readonly run: number; readonly message: string; readonly internal: boolean };
}

/** The worker pool's task (piscina calls the default export in a worker thread). */
export default function runBatch({ experiment, start, end }: RunBatch): BatchResult {
  const lines: string[] = [];
  for (let run = start; run < end; run++) {
    try {
      lines.push(formatRow(runOne(experiment, run)));
    } catch (e) {
      const internal = !isMachbusError(e);
      const message = internal ? String((e as Error).stack ?? e) : e.describe();
      return { lines, error: { run, message, internal } };
    }
  }
  return { lines };
}
