import { Bench } from "tinybench";
import { Machine } from "../src/index.js";

/** Config reads per benchmark iteration: large enough that the call overhead of one iteration vanishes. */
const BATCH = 4096;

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
  const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
  bench.add("config read, full path", () => {
    let acc = 0;
    let i = cursor;
    for (let n = 0; n < BATCH; n++) {
      io.write(0xcf8, 4, latches[i]!);
      acc ^= io.read(0xcfc, 4);
      if (++i === latches.length) i = 0;
    }
    cursor = i;
    sink ^= acc;
  });
  bench.add("config read, raw DataView", () => {
    let acc = 0;
    let i = cursor;
    for (let n = 0; n < BATCH; n++) {
      acc ^= raw.getUint32(latches[i]! & 0xfc, true);
      if (++i === latches.length) i = 0;
    }
    cursor = i;
    sink ^= acc;
  });
  await bench.run();
  if (sink === 0x7fffffff) console.log(""); // keep the loops' results alive
  const rate = (name: string): number => {
    const task = bench.getTask(name)!;
    const result = task.result as { period?: number; error?: unknown } | undefined;
    if (!result || result.period === undefined) throw new Error(`benchmark ${name} did not complete: ${String(result?.error)}`);
    return (BATCH * 1000) / result.period;
  };
  const opsPerSec = rate("config read, full path");
  const rawOpsPerSec = rate("config read, raw DataView");
  return { opsPerSec, rawOpsPerSec, ratio: opsPerSec / rawOpsPerSec, functions: latches.length / 64 };
}
