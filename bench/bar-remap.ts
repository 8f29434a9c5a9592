import type { Machine } from "../src/index.js";
import { median } from "./stats.js";

const BASES = [0xc000, 0xd040] as const;
const WARMUP = 500;
const SAMPLES = 3000;

export interface BarRemapResult {
  /** Median wall time of one move plus one access, in microseconds. */
  medianUs: number;
  /** 90th percentile, in microseconds. */
  p90Us: number;
  samples: number;
  /** The function and BAR moved, e.g. "e1000 00:05.0 BAR1". */
  bar: string;
}

/**
 * What a guest (firmware, a driver, hotplug) does all the time: a config write through
 * 0xCF8/0xCFC that moves an I/O BAR (I/O decoding on), then one access through it at the new
 * address. The BAR moves back and forth between two bases; each sample is one move plus one read.
 */
export function benchBarRemap(machine: Machine, driver = "e1000"): BarRemapResult {
  const placed = machine.devices().find((d) => d.info.name === driver);
  const fn = placed && "function" in placed.device ? placed.device.function : undefined;
  const bar = fn?.bars.find((b) => b?.isIo);
  if (!fn || !bar) throw new Error(`bar-remap benchmark: no ${driver} with an I/O BAR in the machine`);
  const latch = (offset: number): number => (0x80000000 | (fn.bus!.number << 16) | (fn.devfn << 8) | offset) >>> 0;
  const io = machine.io;
  const barLatch = latch(fn.barRegister(bar.index));
  io.write(0xcf8, 4, barLatch);
  io.write(0xcfc, 4, BASES[0]);
  io.write(0xcf8, 4, latch(0x04));
  io.write(0xcfc, 2, io.read(0xcfc, 2) | 0x1);
  if (bar.address !== BigInt(BASES[0])) throw new Error("bar-remap benchmark: the BAR did not map");

  let sink = 0;
  const times: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const base = BASES[(i + 1) & 1]!;
    const t0 = performance.now();
    io.write(0xcf8, 4, barLatch);
    io.write(0xcfc, 4, base);
    sink ^= io.read(base, 4);
    const t = performance.now() - t0;
    if (i >= WARMUP) times.push(t * 1000);
  }
  if (bar.address !== BigInt(BASES[(WARMUP + SAMPLES) & 1]!)) throw new Error("bar-remap benchmark: the BAR did not follow");
  if (sink === 0x7fffffff) console.log(""); // keep the reads alive
  const sorted = [...times].sort((a, b) => a - b);
  return {
    medianUs: median(times),
    p90Us: sorted[Math.floor(sorted.length * 0.9)]!,
    samples: times.length,
    bar: `${driver} ${fn.bdf} BAR${bar.index}`,
  };
}
