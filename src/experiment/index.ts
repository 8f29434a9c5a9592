/**
 * machbus/experiment: slot-allocation experiments (F24) without Node: specs (parse, check,
 * resolve, JSON Schema), runs (one at a time, pure functions of the experiment and the run's
 * index), result summaries and Vega-Lite charts. Browser-safe; the CLI adds the worker pool,
 * the job queue, files and SVG rendering (src/cli/experiment*.ts).
 */
import "reflect-metadata";

export {
  EXPERIMENT_FORMAT,
  METRICS,
  parseExperimentSpec,
  checkExperimentSpec,
  checkCommandLine,
  resolveExperiment,
  experimentJsonSchema,
  type Experiment,
  type ExperimentSpec,
  type MetricName,
  type Range,
  type Workload,
  type WorkloadSpec,
} from "./spec.js";
export {
  runCount,
  runKey,
  runOne,
  runExperiment,
  formatRow,
  shardRange,
  type ExperimentRow,
  type RowValue,
  type RunKey,
} from "./runner.js";
export { parseCommandLine, splitCommandLine, type CommandLine } from "./command-line.js";
export { addressOf, pirqImbalance, windowFigures, type WindowFigures } from "./metrics.js";
export { parseResults, summarize, formatSummary, numericFields, type GroupSummary, type MetricSummary } from "./summary.js";
export { chartSpec, AGGREGATES, MARKS, type Aggregate, type ChartOptions, type Mark } from "./chart.js";
