import fc from "fast-check";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { surfaces, type Surface } from "./surfaces.js";

/**
 * `npm run fuzz -- [--runs N] [--surface NAME]... [--seed S] [--out DIR]`: runs each surface's
 * property N times (default 10,000), prints a table (surface, cases, failures, cases/s) and writes
 * the shrunk counterexample of any failure to DIR (default fuzz-failures/) as JSON.
 */
export interface SurfaceResult {
  readonly surface: string;
  readonly cases: number;
  readonly failures: number;
  readonly seconds: number;
  readonly counterexample?: string;
}

export function runSurface(surface: Surface, runs: number, seed: number, outDir: string | null): SurfaceResult {
  const start = performance.now();
  const r = fc.check(
    fc.property(surface.arbitrary, (input) => surface.run(input)),
    { numRuns: runs, seed },
  );
  const seconds = (performance.now() - start) / 1000;
  if (!r.failed) return { surface: surface.name, cases: r.numRuns, failures: 0, seconds };
  const failure = {
    surface: surface.name,
    seed: r.seed,
    path: r.counterexamplePath,
    counterexample: r.counterexample?.[0] ?? null,
    error: r.errorInstance instanceof Error ? (r.errorInstance.stack ?? r.errorInstance.message) : String(r.errorInstance),
    replay: `npm run fuzz -- --surface ${surface.name} --seed ${r.seed} --path ${r.counterexamplePath}`,
  };
  let file: string | undefined;
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    file = join(outDir, `${surface.name}-${r.seed}.json`);
    writeFileSync(file, JSON.stringify(failure, null, 2) + "\n");
  }
  return { surface: surface.name, cases: r.numRuns, failures: 1, seconds, counterexample: file ?? JSON.stringify(failure) };
}

function formatTable(rows: readonly SurfaceResult[]): string {
  const head = ["surface", "cases", "failures", "cases/s"];
  const body = rows.map((r) => [r.surface, String(r.cases), String(r.failures), (r.cases / Math.max(r.seconds, 1e-9)).toFixed(0)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), ...body.map(line)].join("\n") + "\n";
}

function main(argv: string[]): number {
  let runs = 10_000;
  let seed = Date.now() ^ (Math.random() * 0x7fffffff);
  let outDir = "fuzz-failures";
  let path: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--runs") runs = Number(next());
    else if (a === "--surface") names.push(...next().split(","));
    else if (a === "--seed") seed = Number(next());
    else if (a === "--out") outDir = next();
    else if (a === "--path") path = next();
    else if (a === "--list") {
      for (const s of surfaces) process.stdout.write(`${s.name.padEnd(14)} ${s.cheap ? "cheap " : "costly"} ${s.description}\n`);
      return 0;
    } else {
      process.stderr.write(`fuzz: unknown option '${a}' (--runs N, --surface NAME, --seed S, --out DIR, --list)\n`);
      return 1;
    }
  }
  if (!Number.isSafeInteger(runs) || runs < 1) {
    process.stderr.write("fuzz: --runs takes a positive integer\n");
    return 1;
  }
  const unknown = names.filter((n) => !surfaces.some((s) => s.name === n));
  if (unknown.length) {
    process.stderr.write(`fuzz: no surface ${unknown.join(", ")} (surfaces: ${surfaces.map((s) => s.name).join(", ")})\n`);
    return 1;
  }
  const chosen = names.length ? surfaces.filter((s) => names.includes(s.name)) : surfaces;
  process.stdout.write(`seed ${seed}, ${runs} runs per surface\n`);
  const results: SurfaceResult[] = [];
  for (const s of chosen) {
    const r = path ? replay(s, seed, path) : runSurface(s, runs, seed, outDir);
    results.push(r);
    process.stdout.write(
      `${s.name}: ${r.cases} cases, ${r.failures} failures, ${r.seconds.toFixed(1)} s${r.counterexample ? ` -> ${r.counterexample}` : ""}\n`,
    );
  }
  process.stdout.write("\n" + formatTable(results));
  return results.some((r) => r.failures) ? 1 : 0;
}

/** Re-runs one recorded counterexample (seed and path from its file). */
function replay(surface: Surface, seed: number, path: string): SurfaceResult {
  const start = performance.now();
  const r = fc.check(
    fc.property(surface.arbitrary, (input) => surface.run(input)),
    { seed, path, numRuns: 1 },
  );
  if (r.failed)
    process.stdout.write(`${surface.name}: ${String(r.errorInstance instanceof Error ? r.errorInstance.message : r.errorInstance)}\n`);
  return { surface: surface.name, cases: r.numRuns, failures: r.failed ? 1 : 0, seconds: (performance.now() - start) / 1000 };
}

process.exitCode = main(process.argv.slice(2));
