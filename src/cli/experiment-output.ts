import { closeSync, existsSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { MachbusError } from "../errors.js";
import { runKey } from "../experiment/runner.js";
import type { Experiment } from "../experiment/spec.js";

/**
 * Where an experiment's rows go. A file (-o) gets every row the moment its run finishes, in
 * the order runs finish, so a crash loses nothing; when the experiment ends (done, failed or
 * interrupted) the file is rewritten in run order, which is what makes two runs byte-identical.
 * Standard output gets rows in run order as soon as all earlier ones are there.
 */
export class ResultSink {
  private readonly rows = new Map<number, string>();
  private readonly fd: number | null;
  /** Standard output: the next run (index into `runs`) to write. */
  private cursor = 0;
  private finished = false;

  constructor(
    private readonly file: string | null,
    /** The runs this invocation covers, in order. */
    private readonly runs: readonly number[],
    preloaded: ReadonlyMap<number, string>,
  ) {
    this.fd = file === null ? null : openOutput(file);
    for (const [run, line] of [...preloaded].sort((a, b) => a[0] - b[0])) this.add(run, line);
  }

  get size(): number {
    return this.rows.size;
  }

  add(run: number, line: string): void {
    this.rows.set(run, line);
    if (this.fd !== null) {
      writeSync(this.fd, line + "\n");
      return;
    }
    while (this.cursor < this.runs.length && this.rows.has(this.runs[this.cursor]!)) {
      process.stdout.write(this.rows.get(this.runs[this.cursor++]!)! + "\n");
    }
  }

  /** Puts every finished row in run order: the file rewritten (through a temporary file), or the rest written to standard output. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.fd === null) {
      for (const run of this.runs.slice(this.cursor)) {
        const line = this.rows.get(run);
        if (line !== undefined) process.stdout.write(line + "\n");
      }
      this.cursor = this.runs.length;
      return;
    }
    const ordered = this.runs.filter((r) => this.rows.has(r));
    closeSync(this.fd);
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w");
    for (const run of ordered) writeSync(fd, this.rows.get(run)! + "\n");
    closeSync(fd);
    renameSync(tmp, this.file!);
  }
}

function openOutput(file: string): number {
  try {
    return openSync(file, "w");
  } catch (e) {
    throw new MachbusError("file-invalid", `output ${file}: ${(e as Error).message}`);
  }
}

/**
 * The rows an earlier, interrupted invocation left in `file` (--resume), by run. Each must be a
 * row of this experiment within `runs`: its machine, policy and seed are checked against the run.
 */
export function readFinishedRows(file: string, experiment: Experiment, runs: ReadonlySet<number>): Map<number, string> {
  const out = new Map<number, string>();
  if (!existsSync(file)) return out;
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      const where = `${file}:${i + 1}`;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new MachbusError("file-invalid", `${where}: not a JSON row (cannot resume from this file)`);
      }
      const run = row.run;
      if (typeof run !== "number" || !runs.has(run)) {
        throw new MachbusError("file-invalid", `${where}: run ${String(run)} is not one of the runs to do (another experiment's results?)`);
      }
      const k = runKey(experiment, run);
      const seed = experiment.workload.type === "replay" ? row.command : row.seed;
      if (row.policy !== k.policy || seed !== k.seed || row.workload !== experiment.workload.type) {
        throw new MachbusError(
          "file-invalid",
          `${where}: run ${run} is ${k.policy} with seed ${k.seed} in this experiment, not in the file (another experiment's results?)`,
        );
      }
      out.set(run, line);
    });
  return out;
}
