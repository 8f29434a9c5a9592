import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { Machine } from "../src/index.js";
import { benchBarRemap } from "./bar-remap.js";
import { benchBuildIsolated, memoryOf } from "./build.js";
import { bundleSize, packageEntries } from "./bundle.js";
import { benchConfigReadIsolated, type ConfigReadResult } from "./config-read.js";
import { benchExperiment } from "./experiment.js";
import { benchFirmware } from "./firmware.js";
import { benchLinux } from "./linux.js";
import { catalogueMachine, fullPcSpecs, functionMachineSpecs, numberBridges, thousandFunctionSpecs } from "./machines.js";
import { median } from "./stats.js";

/**
 * `npm run bench`: speed and memory figures, printed and written to bench/results.json (the
 * issues' targets are checked against these, never by timed unit tests).
 */
const RESULTS = new URL("../../bench/results.json", import.meta.url);

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const ms = (n: number): number => Number(n.toFixed(2));
const kib1 = (bytes: number): number => Number((bytes / 1024).toFixed(1));

/** Where the figures were taken: the commit (with "+changes" for a dirty tree), when, on what. */
function runInfo() {
  const git = (...args: string[]): string | null => {
    try {
      return execFileSync("git", args, {
        cwd: new URL("../..", import.meta.url),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    } catch {
      return null; // not a git checkout (a package tarball)
    }
  };
  const commit = git("rev-parse", "HEAD");
  const dirty = commit !== null && git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results.json") !== "";
  return {
    commit: commit && (dirty ? `${commit}+changes` : commit),
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
  };
}

function configReadFigures(r: ConfigReadResult) {
  return {
    opsPerSec: Math.round(r.opsPerSec),
    rawOpsPerSec: Math.round(r.rawOpsPerSec),
    ratio: Number(r.ratio.toFixed(4)),
    functions: r.functions,
  };
}

/** Median wall time of `runs` calls, in ms. */
function time(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Median wall and CPU time (this process, GC threads included) of `runs` calls, in ms. */
function timeWithCpu(runs: number, fn: () => void): { wall: number; cpu: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/**
 * Save and load of a machine built from `specs`, bridges numbered as firmware would: the median
 * of 9 saves of the source and of 9 loads of its stream into a second machine of the same config.
 * CPU time is given too: on a machine shared with other work, wall time is mostly waiting.
 */
function saveLoad(specs: () => string[]) {
  const source = Machine.create({ devices: specs() });
  numberBridges(source);
  const functions = source.buses().reduce((n, b) => n + [...b].length, 0);
  const stream = source.save();
  const target = Machine.create({ devices: specs() });
  const save = timeWithCpu(9, () => source.save());
  const load = timeWithCpu(9, () => target.load(stream));
  return {
    functions,
    streamBytes: stream.length,
    saveMs: ms(save.wall),
    loadMs: ms(load.wall),
    totalMs: ms(save.wall + load.wall),
    saveCpuMs: ms(save.cpu),
    loadCpuMs: ms(load.cpu),
    totalCpuMs: ms(save.cpu + load.cpu),
  };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { run: runInfo() };

  const pc = await benchConfigReadIsolated("pc");
  console.log(
    `config read, pc (${pc.functions} functions): full path ${fmt(pc.opsPerSec)}/s, raw DataView ${fmt(pc.rawOpsPerSec)}/s, ratio ${pc.ratio.toFixed(3)}`,
  );
  results.configRead = configReadFigures(pc);

  const q35 = await benchConfigReadIsolated("q35");
  console.log(
    `config read, q35 (${q35.functions} functions): full path ${fmt(q35.opsPerSec)}/s, raw DataView ${fmt(q35.rawOpsPerSec)}/s, ratio ${q35.ratio.toFixed(3)}`,
  );
  results.configReadQ35 = configReadFigures(q35);

  const all = await benchConfigReadIsolated("catalogue");
  console.log(
    `config read, every catalogue device (${all.functions} functions): full path ${fmt(all.opsPerSec)}/s, raw ${fmt(all.rawOpsPerSec)}/s, ratio ${all.ratio.toFixed(3)}`,
  );
  results.configReadCatalogue = configReadFigures(all);

  const remap = benchBarRemap(catalogueMachine());
  console.log(
    `BAR remap (every catalogue device): a config write moving ${remap.bar}, then one access through it: median ${remap.medianUs.toFixed(1)} us, p90 ${remap.p90Us.toFixed(1)} us (${remap.samples} samples)`,
  );
  results.barRemap = {
    bar: remap.bar,
    medianUs: Number(remap.medianUs.toFixed(2)),
    p90Us: Number(remap.p90Us.toFixed(2)),
    samples: remap.samples,
  };

  const built = await benchBuildIsolated(10_000);
  console.log(
    `build ${fmt(built.functions)} functions (8-function e1000s behind bridges behind bridges): ${built.minMs.toFixed(0)} ms (CPU ${built.cpuMs.toFixed(0)} ms); ${fmt(2 * built.functions)}: ${built.doubleMinMs.toFixed(0)} ms (CPU ${built.doubleCpuMs.toFixed(0)} ms), x${built.ratio.toFixed(2)} (CPU x${built.cpuRatio.toFixed(2)}); fastest of 7 rounds each; each function adds ${fmt(built.heapPerFunction)} bytes of heap and ${fmt(built.buffersPerFunction)} of buffers (${fmt(built.heapPerFunctionOverall)} and ${fmt(built.buffersPerFunctionOverall)} per function with the board)`,
  );
  results.build10k = {
    functions: built.functions,
    ms: ms(built.minMs),
    doubleFunctionsMs: ms(built.doubleMinMs),
    medianMs: ms(built.ms),
    doubleFunctionsMedianMs: ms(built.doubleMs),
    cpuMs: ms(built.cpuMs),
    doubleFunctionsCpuMs: ms(built.doubleCpuMs),
    ratio: Number(built.ratio.toFixed(3)),
    cpuRatio: Number(built.cpuRatio.toFixed(3)),
    heapBytesPerFunction: Math.round(built.heapPerFunction),
    buffersBytesPerFunction: Math.round(built.buffersPerFunction),
    heapBytesPerFunctionOverall: Math.round(built.heapPerFunctionOverall),
    buffersBytesPerFunctionOverall: Math.round(built.buffersPerFunctionOverall),
  };

  const specs = fullPcSpecs();
  const build = time(7, () => Machine.create({ devices: specs }));
  console.log(
    `build a pc with every root slot full (8 bridges, 22 devices) and 8 bridges x 32 devices (${specs.length} devices): ${build.toFixed(1)} ms`,
  );
  results.buildFullPc = { devices: specs.length, ms: ms(build) };

  const kib = (n: number): number => Math.round(n / 1024);
  const thousand = saveLoad(thousandFunctionSpecs);
  const memory = await memoryOf(() => Machine.create({ devices: thousandFunctionSpecs() }));
  console.log(
    `save + load of a ${thousand.functions}-function machine (${fmt(thousand.streamBytes)}-byte stream): save ${thousand.saveMs.toFixed(1)} ms, load ${thousand.loadMs.toFixed(1)} ms, together ${thousand.totalMs.toFixed(1)} ms (CPU ${thousand.totalCpuMs.toFixed(1)} ms); one such machine holds ${fmt(kib(memory.heap))} KiB of heap and ${fmt(kib(memory.buffers))} KiB of buffers`,
  );
  results.saveLoad = { ...thousand, heapKiB: kib(memory.heap), buffersKiB: kib(memory.buffers) };
  const tenThousand = saveLoad(() => functionMachineSpecs(10_000));
  console.log(
    `save + load of a ${tenThousand.functions}-function machine, bridges behind bridges (${fmt(tenThousand.streamBytes)}-byte stream): save ${tenThousand.saveMs.toFixed(1)} ms, load ${tenThousand.loadMs.toFixed(1)} ms, together ${tenThousand.totalMs.toFixed(1)} ms (CPU ${tenThousand.totalCpuMs.toFixed(1)} ms; target < 300 ms)`,
  );
  results.saveLoad10k = tenThousand;

  const bundles: Record<string, { minKiB: number; gzipKiB: number; gzipBytes: number; packages: readonly string[] }> = {};
  for (const entry of packageEntries()) {
    const b = await bundleSize(entry);
    bundles[entry] = { minKiB: kib1(b.minifiedBytes), gzipKiB: kib1(b.gzipBytes), gzipBytes: b.gzipBytes, packages: b.packages };
    console.log(
      `browser bundle of ${entry} (esbuild, minified): ${kib1(b.minifiedBytes)} KiB, gzipped ${kib1(b.gzipBytes)} KiB (${fmt(b.gzipBytes)} bytes); packages: ${b.packages.join(", ") || "none"}`,
    );
  }
  const engine = bundles.machbus!;
  results.bundle = { engineMinKiB: engine.minKiB, engineGzipKiB: engine.gzipKiB, engineGzipBytes: engine.gzipBytes, entries: bundles };

  try {
    const x = await benchExperiment();
    console.log(
      `experiment (churn, ${x.runs} runs of docs/experiments.md's study): ${x.runsPerSecPerCore} runs/s on 1 worker thread, 2 threads ${x.scaling2}x that`,
    );
    results.experiment = { runsPerSecPerCore: x.runsPerSecPerCore, scaling2: x.scaling2, runs: x.runs };
  } catch (e) {
    // The runner's pool is a package (piscina): without it this figure says so and the rest goes on.
    if ((e as { code?: string }).code !== "package-missing") throw e;
    console.log(`experiment figures skipped: ${(e as Error).message}`);
  }

  const firmware = await benchFirmware();
  if (firmware !== null) {
    console.log(`SeaBIOS on v86 over machbus (-m 64, e1000): end of PCI init after ${firmware.toFixed(0)} ms of wall time (median of 5)`);
    results.firmware = { msToEndOfPciInit: ms(firmware) };
  }

  const linux = await benchLinux();
  if (linux) {
    console.log(
      `Linux ${linux.kernel} on v86 over machbus (-m 128, chipset): end of the guest's PCI dump after ${(linux.msToPciDump / 1000).toFixed(1)} s of wall time (median of ${linux.runs.length})`,
    );
    results.linux = { msToPciDump: linux.msToPciDump, runsMs: linux.runs, kernel: linux.kernel };
  }

  mkdirSync(new URL(".", RESULTS), { recursive: true });
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>;
  } catch {
    // first run
  }
  writeFileSync(RESULTS, JSON.stringify({ ...previous, ...results }, null, 2) + "\n");
  console.log("results written to bench/results.json");
}

await main();
