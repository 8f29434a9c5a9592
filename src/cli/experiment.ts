import type { Command } from "commander";
import { availableParallelism } from "node:os";
import { dirname, relative, resolve } from "node:path";
import { MachbusError } from "../errors.js";
import { runCount, shardRange } from "../experiment/runner.js";
import { checkCommandLine, parseExperimentSpec, resolveExperiment, type Experiment } from "../experiment/spec.js";
import { ResultSink, readFinishedRows } from "./experiment-output.js";
import { RunPool, runLocally } from "./experiment-pool.js";
import { DEFAULT_QUEUE_NAME, runOnQueue, serveQueue, waitForRedis, type QueueTarget } from "./experiment-queue.js";
import { readUserFile } from "./machine-options.js";
import { PROGRESS_MODES, formatSeconds, startProgress, type ProgressMode } from "./progress.js";

/**
 * `machbus experiment SPEC` (F24): runs an experiment on all cores (or on a BullMQ queue with
 * --queue) and writes one JSONL row per run; `machbus worker --queue URL` serves a queue.
 * Ctrl-C stops an experiment cleanly: started runs finish, every finished row is kept, and
 * --resume does the rest.
 */

interface ExperimentCliOptions {
  output?: string;
  workers?: string;
  shard?: string;
  resume?: boolean;
  progress: string;
  queue?: string;
  queueName: string;
  queueTimeout: string;
  chunk: string;
  plan?: boolean;
}

export function registerExperimentCommands(program: Command): void {
  program
    .command("experiment")
    .description("run a slot-allocation experiment (a YAML or JSON spec, docs/experiments.md); one JSONL row per run")
    .argument("<spec>", "experiment spec file")
    .option("-o, --output <file>", "write the rows to FILE (default: standard output)")
    .option("--workers <n>", "worker threads (default: one per core)")
    .option("--shard <i/n>", "run only shard i of n (1-based): contiguous blocks, so shards 1..n concatenated are the whole experiment")
    .option("--resume", "keep the rows already in the output file (an interrupted run's) and do only the missing runs")
    .option(
      "--progress <mode>",
      `progress on standard error: ${PROGRESS_MODES.join(", ")} (auto: a bar on a terminal, else a line per 10%)`,
      "auto",
    )
    .option("--queue <url>", "run on BullMQ workers (machbus worker) through Redis at URL, e.g. redis://127.0.0.1:6379")
    .option("--queue-name <name>", "BullMQ queue name", DEFAULT_QUEUE_NAME)
    .option("--queue-timeout <seconds>", "how long to wait for Redis before giving up", "10")
    .option("--chunk <runs>", "runs per queue job", "10")
    .option("--plan", "print the resolved experiment (defaults filled in, device pools) and the number of runs; run nothing")
    .action(async (specFile: string, opts: ExperimentCliOptions) => {
      const experiment = loadExperiment(specFile);
      const total = runCount(experiment);
      if (opts.plan) {
        process.stdout.write(JSON.stringify({ runs: total, experiment }, null, 2) + "\n");
        return;
      }
      const progressMode = choice(opts.progress, PROGRESS_MODES, "--progress") as ProgressMode;
      const { start, end } = opts.shard ? shardRange(total, ...parseShard(opts.shard)) : { start: 0, end: total };
      const range = Array.from({ length: end - start }, (_, i) => start + i);
      if (opts.resume && !opts.output) throw new MachbusError("file-invalid", "--resume needs -o FILE (the rows to resume from)");
      const finished = opts.resume ? readFinishedRows(opts.output!, experiment, new Set(range)) : new Map<number, string>();
      const todo = range.filter((r) => !finished.has(r));
      // Everything that can fail before a run starts fails before the output file is touched.
      const target: QueueTarget | null = opts.queue
        ? { url: opts.queue, name: opts.queueName, timeoutMs: positive(opts.queueTimeout, "--queue-timeout", true) * 1000 }
        : null;
      const chunk = positive(opts.chunk, "--chunk");
      const connection = target ? await waitForRedis(target) : null;
      const workers = target ? 0 : opts.workers ? positive(opts.workers, "--workers") : availableParallelism();
      const pool = target ? null : await RunPool.create(workers);
      const sink = new ResultSink(opts.output ?? null, range, finished);
      const where = target ? `on ${target.url}` : `on ${workers} worker${workers > 1 ? "s" : ""}`;
      const label = experiment.name ?? relative(process.cwd(), specFile);
      const stop = interruptible(() => sink.finish());
      const progress = startProgress(progressMode, range.length, finished.size, label);
      const t0 = performance.now();
      const onRow = (run: number, line: string): void => {
        sink.add(run, line);
        progress.tick();
      };
      let ok = false;
      try {
        if (target)
          await runOnQueue(experiment, todo, target, connection!, { chunk, onRow, stopping: stop.requested, onNoWorker: progress.note });
        else await runLocally(experiment, todo, { pool: pool!, onRow, stopping: stop.requested });
        ok = true;
      } finally {
        await pool?.destroy();
        stop.dispose();
        sink.finish();
        const seconds = (performance.now() - t0) / 1000;
        const done = sink.size - finished.size;
        const to = opts.output ? ` -> ${opts.output}` : "";
        progress.stop(
          ok && !stop.requested()
            ? `${done} runs in ${formatSeconds(seconds)} (${(done / Math.max(seconds, 1e-3)).toFixed(1)} runs/s ${where})${to}`
            : undefined,
        );
      }
      if (stop.requested()) {
        process.stderr.write(
          `machbus: interrupted: ${sink.size} of ${range.length} runs finished, kept${opts.output ? ` in ${opts.output} (--resume does the rest)` : ""}\n`,
        );
        process.exitCode = 130;
      }
    });

  program
    .command("worker")
    .description("run experiment jobs from a BullMQ queue (machbus experiment --queue), on any number of hosts; Ctrl-C stops")
    .requiredOption("--queue <url>", "Redis URL, e.g. redis://127.0.0.1:6379")
    .option("--queue-name <name>", "BullMQ queue name", DEFAULT_QUEUE_NAME)
    .option("--queue-timeout <seconds>", "how long to wait for Redis before giving up", "10")
    .option("--concurrency <n>", "jobs at a time, each on a thread of its own (default: one per core)")
    .action(async (opts: { queue: string; queueName: string; queueTimeout: string; concurrency?: string }) => {
      const threads = opts.concurrency ? positive(opts.concurrency, "--concurrency") : availableParallelism();
      let release!: () => void;
      const stopped = new Promise<void>((r) => (release = r));
      const onSignal = (): void => release();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const target: QueueTarget = {
        url: opts.queue,
        name: opts.queueName,
        timeoutMs: positive(opts.queueTimeout, "--queue-timeout", true) * 1000,
      };
      const log = (line: string): void => void process.stderr.write(`machbus: ${line}\n`);
      const runs = await serveQueue(target, { threads, stopped, log });
      log(`worker stopped after ${runs} runs`);
    });
}

/** Reads, checks and resolves a spec file; a replay's `file:` is read relative to the spec, its errors at its own lines. */
export function loadExperiment(file: string): Experiment {
  const where = relative(process.cwd(), resolve(file)) || file;
  const spec = parseExperimentSpec(readUserFile(file, "experiment spec"), where);
  const w = spec.workload;
  if (w.type === "replay" && w.file) {
    const path = resolve(dirname(file), w.file);
    const shown = relative(process.cwd(), path) || path;
    const commands: string[] = [];
    readUserFile(path, "command lines")
      .split("\n")
      .forEach((line, i) => {
        if (line.trim() === "" || line.trimStart().startsWith("#")) return;
        const why = checkCommandLine(line, spec.machines !== undefined);
        if (why) throw new MachbusError("experiment-invalid", why, `${shown}:${i + 1}`);
        commands.push(line.trim());
      });
    if (commands.length === 0) throw new MachbusError("experiment-invalid", `${shown}: no command lines in it`);
    return resolveExperiment({ ...spec, workload: { type: "replay", commands } });
  }
  return resolveExperiment(spec);
}

/**
 * SIGINT and SIGTERM: the first asks the experiment to stop (started runs finish); a second one
 * stops at once, after writing the finished rows.
 */
function interruptible(flush: () => void): { requested: () => boolean; dispose: () => void } {
  let count = 0;
  const handler = (): void => {
    if (++count === 1) {
      process.stderr.write("\nmachbus: stopping: finishing the runs under way (Ctrl-C again stops at once)\n");
      return;
    }
    flush();
    process.stderr.write("machbus: stopped at once; finished rows kept\n");
    process.exit(130);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    requested: () => count > 0,
    dispose: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

function parseShard(text: string): [number, number] {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const i = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || i < 1 || i > n)
    throw new MachbusError("experiment-invalid", `--shard ${text}: expected i/n with 1 <= i <= n, e.g. 2/8`);
  return [i, n];
}

function positive(text: string, option: string, fraction = false): number {
  const n = Number(text);
  if (!(n > 0) || (!fraction && !Number.isInteger(n))) {
    throw new MachbusError("experiment-invalid", `${option} ${text}: expected a positive ${fraction ? "number" : "whole number"}`);
  }
  return n;
}

function choice(text: string, valid: readonly string[], option: string): string {
  if (!valid.includes(text)) throw new MachbusError("experiment-invalid", `${option} ${text}: expected one of ${valid.join(", ")}`);
  return text;
}
