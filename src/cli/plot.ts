import type { Command } from "commander";
import { MachbusError } from "../errors.js";
import { AGGREGATES, MARKS, chartSpec, type Aggregate, type Mark } from "../experiment/chart.js";
import { checkField, formatSummary, numericFields, parseResults, summarize } from "../experiment/summary.js";
import { requirePackage } from "./experiment-pool.js";
import { readUserFile, writeUserFile } from "./machine-options.js";

/**
 * `machbus plot` and `machbus report`: an experiment's JSONL as a chart (Vega-Lite compiled to
 * Vega, rendered to SVG by Vega's headless view: no browser) and as a summary table.
 */

type VegaModule = typeof import("vega");
type VegaLiteModule = typeof import("vega-lite");

/** Renders a Vega-Lite spec to SVG text in Node. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const vegaLite = await requirePackage<VegaLiteModule>("vega-lite", "machbus plot");
  const vega = await requirePackage<VegaModule>("vega", "machbus plot");
  const compiled = vegaLite.compile(spec as unknown as Parameters<VegaLiteModule["compile"]>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function registerPlotCommands(program: Command): void {
  program
    .command("plot")
    .description("chart an experiment's results (JSONL) as SVG: --y against --x, one series per --by")
    .argument("<results>", "JSONL results of machbus experiment")
    .requiredOption("--x <field>", "field on the x axis (e.g. ops, policy, seed)")
    .requiredOption("--y <field>", "field on the y axis (e.g. restartMoved, refused, pirqImbalance)")
    .option("--by <field>", "one series (colour) per value of FIELD, e.g. policy")
    .option("--aggregate <how>", `how the runs at one x become one point: ${AGGREGATES.join(", ")}`, "mean")
    .option("--mark <mark>", `${MARKS.join(", ")} (default: line for a numeric x, bar otherwise, point for --aggregate none)`)
    .option("--bin [bins]", "bin a numeric x into about BINS bins (default 10)")
    .option("--title <text>", "chart title")
    .option("-o, --output <file>", "write the SVG to FILE (default: standard output)")
    .option("--vega-lite", "print the Vega-Lite spec (JSON) instead of rendering it")
    .action(
      async (
        file: string,
        opts: {
          x: string;
          y: string;
          by?: string;
          aggregate: string;
          mark?: string;
          bin?: boolean;
          title?: string;
          output?: string;
          vegaLite?: boolean;
        },
      ) => {
        if (!(AGGREGATES as readonly string[]).includes(opts.aggregate)) {
          throw new MachbusError("file-invalid", `--aggregate ${opts.aggregate}: expected one of ${AGGREGATES.join(", ")}`);
        }
        if (opts.mark !== undefined && !(MARKS as readonly string[]).includes(opts.mark)) {
          throw new MachbusError("file-invalid", `--mark ${opts.mark}: expected one of ${MARKS.join(", ")}`);
        }
        const rows = parseResults(readUserFile(file, "results"), file);
        const spec = chartSpec(rows, {
          x: opts.x,
          y: opts.y,
          by: opts.by,
          aggregate: opts.aggregate as Aggregate,
          mark: opts.mark as Mark | undefined,
          bin: typeof opts.bin === "string" ? binCount(opts.bin) : opts.bin,
          title: opts.title,
          file,
        });
        const text = opts.vegaLite ? JSON.stringify(spec, null, 2) + "\n" : (await renderSvg(spec)) + "\n";
        if (opts.output) writeUserFile(opts.output, text, "chart");
        else process.stdout.write(text);
      },
    );

  program
    .command("report")
    .description("summarize an experiment's results: per group, runs and mean, median, p95, min, max of each metric")
    .argument("<results>", "JSONL results of machbus experiment")
    .option("--by <fields>", "group by these fields, comma-separated", "policy")
    .option("--metrics <fields>", "the metrics to summarize, comma-separated (default: every numeric field)")
    .option("--format <format>", "text, markdown or json", "text")
    .action((file: string, opts: { by: string; metrics?: string; format: string }) => {
      if (!["text", "markdown", "json"].includes(opts.format)) {
        throw new MachbusError("file-invalid", `--format ${opts.format}: expected text, markdown or json`);
      }
      const rows = parseResults(readUserFile(file, "results"), file);
      const by = list(opts.by);
      for (const f of by) checkField(rows, f, "--by", file);
      const metrics = opts.metrics ? list(opts.metrics) : numericFields(rows, by);
      for (const f of metrics) checkField(rows, f, "--metrics", file);
      const groups = summarize(rows, by, metrics);
      process.stdout.write(
        opts.format === "json" ? JSON.stringify(groups, null, 2) + "\n" : formatSummary(groups, opts.format as "text" | "markdown"),
      );
    });
}

function binCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 2) throw new MachbusError("file-invalid", `--bin ${text}: expected a whole number of bins >= 2`);
  return n;
}

function list(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
