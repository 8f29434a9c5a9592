import { formatRow, parseExperimentSpec, resolveExperiment, runExperiment } from "../../src/experiment/index.js";

/** A small churn experiment (12 runs) for the CLI and queue tests. */
export const CHURN_SPEC = `experiment: 1
name: churn in the tests
policies: [qemu, append-only, explicit-first]
seeds: 4
workload: { type: churn, initial: { min: 2, max: 6 }, operations: { min: 2, max: 8 }, explicit: 0.25 }
`;

/** The JSONL the engine computes in this process for a spec: what every CLI, thread and queue run must write. */
export function expectedJsonl(spec: string): string {
  const e = resolveExperiment(parseExperimentSpec(spec, "spec.yaml"));
  return [...runExperiment(e)].map((r) => formatRow(r) + "\n").join("");
}
