import { fork } from "node:child_process";
import { Machine } from "../src/index.js";
import { functionMachineSpecs } from "./machines.js";
import { median } from "./stats.js";

const ROUNDS = 7;

export interface BuildResult {
  functions: number;
  /** Median build time of the machine of `functions` functions, and of the one of twice as many. */
  ms: number;
  doubleMs: number;
  /** The fastest of the rounds, for each: other processes only ever add time, so these are what the build costs. */
  minMs: number;
  doubleMinMs: number;
  /** CPU time (this process, GC threads included) of the fastest round of each: what waiting for a shared CPU does not inflate. */
  cpuMs: number;
  doubleCpuMs: number;
  /** doubleMinMs / minMs: 2 when building scales linearly. */
  ratio: number;
  /** doubleCpuMs / cpuMs. */
  cpuRatio: number;
  /** What one more function costs: (memory of the 2N machine - memory of the N one) / N, in bytes. */
  heapPerFunction: number;
  buffersPerFunction: number;
  /** The N machine's whole memory divided by N (the board and tables included). */
  heapPerFunctionOverall: number;
  buffersPerFunctionOverall: number;
}

/** Bytes that what `make` returns keeps alive, on the JS heap and in ArrayBuffers (needs node --expose-gc). */
export async function memoryOf(make: () => unknown): Promise<{ heap: number; buffers: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc (npm run bench does)");
  // V8 frees ArrayBuffer memory after a collection, in the background: let it finish.
  const settle = async (): Promise<NodeJS.MemoryUsage> => {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
    gc();
    return process.memoryUsage();
  };
  const before = await settle();
  const kept = [make()];
  const after = await settle();
  kept.length = 0;
  return { heap: after.heapUsed - before.heapUsed, buffers: after.arrayBuffers - before.arrayBuffers };
}

/**
 * Builds machines of `functions` and of 2 x `functions` device functions (functionMachineSpecs:
 * 8-function devices on buses two bridges deep), alternating, ROUNDS times each after a small
 * warm-up machine; then measures what each keeps alive.
 */
export async function benchBuild(functions: number): Promise<BuildResult> {
  const small = functionMachineSpecs(functions);
  const large = functionMachineSpecs(2 * functions);
  Machine.create({ devices: functionMachineSpecs(1000) });
  const gc = (globalThis as { gc?: () => void }).gc;
  const time = (specs: string[]): { wall: number; cpu: number } => {
    gc?.(); // each build starts on a clean heap, not paying for the previous machine's garbage
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    Machine.create({ devices: specs });
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wall, cpu: (c.user + c.system) / 1000 };
  };
  const smallRounds: { wall: number; cpu: number }[] = [];
  const largeRounds: { wall: number; cpu: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    smallRounds.push(time(small));
    largeRounds.push(time(large));
  }
  const smallTimes = smallRounds.map((r) => r.wall);
  const largeTimes = largeRounds.map((r) => r.wall);
  const minMs = Math.min(...smallTimes);
  const doubleMinMs = Math.min(...largeTimes);
  const cpuMs = Math.min(...smallRounds.map((r) => r.cpu));
  const doubleCpuMs = Math.min(...largeRounds.map((r) => r.cpu));
  const a = await memoryOf(() => Machine.create({ devices: small }));
  const b = await memoryOf(() => Machine.create({ devices: large }));
  return {
    functions,
    ms: median(smallTimes),
    doubleMs: median(largeTimes),
    minMs,
    doubleMinMs,
    cpuMs,
    doubleCpuMs,
    ratio: doubleMinMs / minMs,
    cpuRatio: doubleCpuMs / cpuMs,
    heapPerFunction: (b.heap - a.heap) / functions,
    buffersPerFunction: (b.buffers - a.buffers) / functions,
    heapPerFunctionOverall: a.heap / functions,
    buffersPerFunctionOverall: a.buffers / functions,
  };
}

/** benchBuild in a fresh process (its own heap and optimizer state), as `npm run bench` runs it. */
export function benchBuildIsolated(functions: number): Promise<BuildResult> {
  return new Promise((resolve, reject) => {
    let result: BuildResult | undefined;
    const child = fork(new URL("./build-worker.js", import.meta.url), [String(functions)], { execArgv: ["--expose-gc"] });
    child.once("message", (message) => (result = message as BuildResult));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`build benchmark exited with ${code}`));
    });
  });
}
