import { mixSeed, mulberry32 } from "../machine/prng.js";
import type { Range } from "./spec.js";

/** The random choices of one run, all from its seed: the same seed makes the same choices on every worker. */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(mixSeed(seed));
  }

  /** An integer from 0 to n - 1. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A count from range.min to range.max, each equally likely. */
  count(range: Range): number {
    return range.min + this.int(range.max - range.min + 1);
  }
}
