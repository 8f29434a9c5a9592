import { createRequire } from "node:module";
import { MachbusError } from "../errors.js";
import { runKey } from "../experiment/runner.js";
import type { Experiment } from "../experiment/spec.js";
import type { BatchResult, RunBatch } from "./experiment-thread.js";

/**
 * Runs on all cores: a piscina pool of worker threads, each running batches of runs
 * (experiment-thread.ts). The local runner keeps a few batches per thread in flight and stops
 * taking new ones when asked, so an interrupted experiment ends with every started run finished.
 */

const require = createRequire(import.meta.url);

/** Loads an optional npm package, or says in one line which command needs it and how to install it. */
export async function requirePackage<T>(name: string, who: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw e;
    // The package itself, or one it imports (vega-lite imports vega).
    const missing = /Cannot find package '([^']+)'/.exec((e as Error).message)?.[1] ?? name;
    const pkg = require("machbus/package.json") as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    const version = pkg.dependencies?.[missing] ?? pkg.optionalDependencies?.[missing];
    throw new MachbusError(
      "package-missing",
      `${who} needs the npm package ${missing}, which is not installed (npm install ${missing}${version ? `@${version}` : ""})`,
    );
  }
}

type PiscinaModule = typeof import("piscina");
type Pool = InstanceType<PiscinaModule["Piscina"]>;

export class RunPool {
  private constructor(
    private readonly pool: Pool,
    readonly threads: number,
  ) {}

  static async create(threads: number): Promise<RunPool> {
    const { Piscina } = await requirePackage<PiscinaModule>("piscina", "running experiments");
    const pool = new Piscina({
      filename: new URL("./experiment-thread.js", import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
    });
    // A thread that dies fails its task (and so the experiment); the pool's own event must not end the process.
    pool.on("error", () => {});
    return new RunPool(pool, threads);
  }

  run(batch: RunBatch): Promise<BatchResult> {
    return this.pool.run(batch) as Promise<BatchResult>;
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

/** The error a failed run ends an experiment with: its place in the experiment, then what went wrong. */
export function runFailed(experiment: Experiment, error: NonNullable<BatchResult["error"]>): Error {
  const k = runKey(experiment, error.run);
  const where = `run ${k.run} (${k.machine}, ${k.policy}, ${experiment.workload.type === "replay" ? "command" : "seed"} ${k.seed})`;
  return error.internal ? new Error(`${where}: ${error.message}`) : new MachbusError("experiment-invalid", error.message, where);
}

export interface LocalRunOptions {
  readonly pool: RunPool;
  /** Called with the rows of each finished run, in completion order. */
  readonly onRow: (run: number, line: string) => void;
  /** Checked before each new run is started: true stops taking new ones. */
  readonly stopping: () => boolean;
}

/** Runs `runs` of `experiment` on the pool; resolves when all are done, or when stopping and the started ones are. */
export function runLocally(experiment: Experiment, runs: readonly number[], options: LocalRunOptions): Promise<void> {
  const window = options.pool.threads * 2;
  let next = 0;
  let inFlight = 0;
  let failure: unknown = null;
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      if (inFlight > 0) return;
      if (failure) reject(failure);
      else resolve();
    };
    const pump = (): void => {
      while (!failure && !options.stopping() && inFlight < window && next < runs.length) {
        const run = runs[next++]!;
        inFlight++;
        options.pool.run({ experiment, start: run, end: run + 1 }).then(
          (result) => {
            inFlight--;
            if (result.error) failure ??= runFailed(experiment, result.error);
            else options.onRow(run, result.lines[0]!);
            pump();
            if (failure || options.stopping() || next >= runs.length) settle();
          },
          (e: unknown) => {
            inFlight--;
            failure ??= e;
            settle();
          },
        );
      }
      if (next >= runs.length || options.stopping()) settle();
    };
    pump();
  });
}
