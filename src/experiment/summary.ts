import { MachbusError } from "../errors.js";
import { own } from "../own.js";
import type { ExperimentRow, RowValue } from "./runner.js";

/**
 * Reading results back: rows from JSONL, and per group of rows (by policy, machine, ...) the
 * count, mean, median and 95th percentile of each metric (`machbus report`).
 */

/** Fields that identify a run rather than measure it: never summarized. */
const IDENTITY_FIELDS = new Set(["run", "seed", "command"]);

/** Parses JSONL results; a line that is not a JSON object is an error naming the file and line. */
export function parseResults(text: string, file: string): ExperimentRow[] {
  const rows: ExperimentRow[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new MachbusError("file-invalid", `${file}:${i + 1}: not a JSON object (each line of an experiment's results is one run)`);
    }
    rows.push(value as ExperimentRow);
  });
  if (rows.length === 0) throw new MachbusError("file-invalid", `${file}: no results in it`);
  return rows;
}

/** Checks that `field` is in the rows; the error lists the fields there are. */
export function checkField(rows: readonly ExperimentRow[], field: string, option: string, file: string): void {
  if (rows.some((r) => Object.hasOwn(r, field))) return;
  const fields = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  throw new MachbusError("file-invalid", `${option} ${field}: no field '${field}' in ${file} (fields: ${fields.join(", ")})`);
}

/** Fields holding numbers, in the order rows have them, but the identity fields and `exclude`. */
export function numericFields(rows: readonly ExperimentRow[], exclude: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === "number") out.add(k);
  return [...out].filter((k) => !IDENTITY_FIELDS.has(k) && !exclude.includes(k));
}

export interface MetricSummary {
  readonly metric: string;
  /** Runs with a value for it (a run refused as a whole has none). */
  readonly runs: number;
  readonly mean: number | null;
  readonly median: number | null;
  /** Nearest rank: the smallest value at least 95% of the runs do not exceed. */
  readonly p95: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

export interface GroupSummary {
  /** The group's values of the `by` fields. */
  readonly group: Readonly<Record<string, RowValue>>;
  readonly runs: number;
  readonly metrics: readonly MetricSummary[];
}

/** Groups rows by the `by` fields (in order of first appearance) and summarizes each metric. */
export function summarize(rows: readonly ExperimentRow[], by: readonly string[], metrics = numericFields(rows, by)): GroupSummary[] {
  const groups = new Map<string, ExperimentRow[]>();
  for (const r of rows) {
    const key = JSON.stringify(by.map((f) => own(r, f) ?? null));
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(r);
  }
  return [...groups.values()].map((list) => ({
    group: Object.fromEntries(by.map((f) => [f, list[0]![f] ?? null])),
    runs: list.length,
    metrics: metrics.map((metric) =>
      describe(
        metric,
        list.map((r) => own(r, metric)).filter((v): v is number => typeof v === "number"),
      ),
    ),
  }));
}

function describe(metric: string, values: number[]): MetricSummary {
  if (values.length === 0) return { metric, runs: 0, mean: null, median: null, p95: null, min: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return {
    metric,
    runs: n,
    mean: sorted.reduce((s, v) => s + v, 0) / n,
    median,
    p95: sorted[Math.ceil(0.95 * n) - 1]!,
    min: sorted[0]!,
    max: sorted[n - 1]!,
  };
}

const COLUMNS = ["runs", "mean", "median", "p95", "min", "max"] as const;

/** The summary as a text table (aligned columns) or a Markdown table: one line per group and metric. */
export function formatSummary(groups: readonly GroupSummary[], format: "text" | "markdown" = "text"): string {
  const by = groups[0] ? Object.keys(groups[0].group) : [];
  const header = [...by, "metric", ...COLUMNS];
  const lines = groups.flatMap((g) =>
    g.metrics.map((m) => [...by.map((f) => String(g.group[f] ?? "-")), m.metric, ...COLUMNS.map((c) => formatNumber(m[c]))]),
  );
  const numeric = (col: number): boolean => col > by.length;
  if (format === "markdown") {
    const row = (cells: string[]): string => `| ${cells.join(" | ")} |`;
    const rule = header.map((_, i) => (numeric(i) ? "---:" : "---"));
    return [row(header), row(rule), ...lines.map(row)].join("\n") + "\n";
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const pad = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [pad(header), ...lines.map(pad)].join("\n") + "\n";
}

function formatNumber(v: number | null): string {
  if (v === null) return "-";
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, "");
}
