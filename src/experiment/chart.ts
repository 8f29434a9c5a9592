import { MachbusError } from "../errors.js";
import { own } from "../own.js";
import type { ExperimentRow } from "./runner.js";
import { checkField } from "./summary.js";

/**
 * A chart of experiment results as a Vega-Lite spec (plain JSON): `machbus plot` renders it to
 * SVG in Node; a browser renders the same spec with vega-embed.
 */

export const AGGREGATES = ["mean", "median", "sum", "min", "max", "count", "none"] as const;
export type Aggregate = (typeof AGGREGATES)[number];
export const MARKS = ["line", "point", "bar"] as const;
export type Mark = (typeof MARKS)[number];

export interface ChartOptions {
  readonly x: string;
  readonly y: string;
  /** One series (colour) per value of this field, e.g. policy. */
  readonly by?: string;
  /** How the y values of one x (and series) become one point; "none" plots every run. Default mean. */
  readonly aggregate?: Aggregate;
  /** Default: line for a numeric x, bar for a categorical one, point when not aggregated. */
  readonly mark?: Mark;
  /** Bins a numeric x into about this many bins (true: 10). */
  readonly bin?: boolean | number;
  readonly title?: string;
  /** Where the rows came from, for errors. */
  readonly file?: string;
}

export function chartSpec(rows: readonly ExperimentRow[], options: ChartOptions): Record<string, unknown> {
  const file = options.file ?? "the results";
  checkField(rows, options.x, "--x", file);
  checkField(rows, options.y, "--y", file);
  if (options.by) checkField(rows, options.by, "--by", file);
  const aggregate = options.aggregate ?? "mean";
  const fields = [options.x, options.y, ...(options.by ? [options.by] : [])];
  const values = rows
    .filter((r) => (own(r, options.y) ?? null) !== null && (own(r, options.x) ?? null) !== null)
    .map((r) => Object.fromEntries(fields.map((f) => [f, own(r, f) ?? null])));
  if (aggregate !== "count" && values.some((v) => typeof v[options.y] !== "number")) {
    throw new MachbusError("file-invalid", `--y ${options.y}: not a number in every run (use a numeric field, or --aggregate count)`);
  }
  const xNumeric = values.every((v) => typeof v[options.x] === "number");
  const mark = options.mark ?? (aggregate === "none" ? "point" : xNumeric ? "line" : "bar");
  const yTitle = aggregate === "none" ? options.y : aggregate === "count" ? "runs" : `${aggregate} of ${options.y}`;
  const x: Record<string, unknown> = { field: options.x, type: xNumeric ? "quantitative" : "nominal", title: options.x };
  if (options.bin && xNumeric) x.bin = { maxbins: options.bin === true ? 10 : options.bin };
  if (!xNumeric) x.sort = null;
  const y: Record<string, unknown> = { field: options.y, type: "quantitative", title: yTitle };
  if (aggregate !== "none") y.aggregate = aggregate;
  const encoding: Record<string, unknown> = { x, y };
  if (options.by) {
    encoding.color = { field: options.by, type: "nominal", title: options.by, sort: null };
    if (mark === "bar" && !xNumeric) encoding.xOffset = { field: options.by, sort: null };
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title ?? `${yTitle} by ${options.x}${options.by ? `, per ${options.by}` : ""}`,
    width: 480,
    height: 300,
    background: "white",
    data: { values },
    mark: mark === "line" ? { type: "line", point: true } : { type: mark },
    encoding,
  };
}
