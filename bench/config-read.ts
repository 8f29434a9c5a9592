import { fork } from "node:child_process";
import { Bench } from "tinybench";
import type { Machine } from "../src/index.js";
import { median } from "./stats.js";

/** Config reads per benchmark iteration: large enough that the call overhead of one iteration vanishes. */
const BATCH = 4096;
const ROUNDS = 7;

function rate(bench: Bench, name: string): number {
  const result = bench.getTask(name)!.result as { period?: number; error?: unknown } | undefined;
  if (!result || result.period === undefined) throw new Error(`benchmark ${name} did not complete: ${String(result?.error)}`);
  return (BATCH * 1000) / result.period;
}

export interface ConfigReadResult {
  /** Full-path dword config reads per second: 32-bit write to 0xCF8, 32-bit read of 0xCFC. */
  opsPerSec: number;
  /** DataView.getUint32 over a 256-byte buffer, same offsets. */
  rawOpsPerSec: number;
  ratio: number;
  functions: number;
}

/**
 * Dword config reads through the whole path on `machine` (its I/O space -> 0xCF8 latch ->
 * 0xCFC data -> bus -> function -> bytes), cycling over every present function and offset,
 * against a raw DataView loop in the same process run.
 */
export async function benchConfigRead(machine: Machine): Promise<ConfigReadResult> {
  const addresses: number[] = [];
  for (const bus of machine.buses()) {
    for (const fn of bus) {
      for (let off = 0; off < 256; off += 4) addresses.push((0x80000000 | (bus.number << 16) | (fn.devfn << 8) | off) >>> 0);
    }
  }
  const latches = Uint32Array.from(addresses);
  const io = machine.io;
  const raw = new DataView(new ArrayBuffer(256));
  for (let i = 0; i < 256; i += 4) raw.setUint32(i, i * 0x01010101, true);

  let sink = 0;
  let cursor = 0;
  const full = (): void => {
    let acc = 0;
    let i = cursor;
    for (let n = 0; n < BATCH; n++) {
      io.write(0xcf8, 4, latches[i]!);
      acc ^= io.read(0xcfc, 4);
      if (++i === latches.length) i = 0;
    }
    cursor = i;
    sink ^= acc;
  };
  const rawLoop = (): void => {
    let acc = 0;
    let i = cursor;
    for (let n = 0; n < BATCH; n++) {
      acc ^= raw.getUint32(latches[i]! & 0xfc, true);
      if (++i === latches.length) i = 0;
    }
    cursor = i;
    sink ^= acc;
  };
  // Alternating short rounds, then medians: drift in the machine's speed (other processes,
  // frequency changes) hits both loops alike instead of skewing their ratio.
  const fullRates: number[] = [];
  const rawRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: 300, warmup: true, warmupTime: round === 0 ? 300 : 50 });
    bench.add("config read, full path", full);
    bench.add("config read, raw DataView", rawLoop);
    await bench.run();
    fullRates.push(rate(bench, "config read, full path"));
    rawRates.push(rate(bench, "config read, raw DataView"));
  }
  if (sink === 0x7fffffff) console.log(""); // keep the loops' results alive
  const opsPerSec = median(fullRates);
  const rawOpsPerSec = median(rawRates);
  return { opsPerSec, rawOpsPerSec, ratio: opsPerSec / rawOpsPerSec, functions: latches.length / 64 };
}

/**
 * benchConfigRead in a fresh process: each scenario gets its own optimizer state, so what it
 * learned from another machine's run (its closures, its routes) does not slow this one down.
 */
export function benchConfigReadIsolated(scenario: "pc" | "q35" | "catalogue"): Promise<ConfigReadResult> {
  return new Promise((resolve, reject) => {
    let result: ConfigReadResult | undefined;
    // Without on-stack replacement the two loops are optimized as whole functions. With it, V8
    // sometimes keeps the loop code it compiled in the middle of the first long call, and the
    // full path measures a third slower from one run to the next.
    const child = fork(new URL("./config-read-worker.js", import.meta.url), [scenario], { execArgv: ["--no-use-osr"] });
    child.once("message", (message) => (result = message as ConfigReadResult));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`config-read benchmark (${scenario}) exited with ${code}`));
    });
  });
}
