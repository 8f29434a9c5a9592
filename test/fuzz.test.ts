import fc from "fast-check";
import { describe, it } from "vitest";
import { surfaces } from "../fuzz/surfaces.js";

/**
 * The fuzzer's surfaces (fuzz/surfaces.ts) with a few thousand cases each, a fixed seed so a
 * failure here replays (`npm run fuzz -- --surface NAME --seed 10` runs more of the same).
 */
const RUNS = { cheap: 3000, costly: 1000 };

describe("property-based fuzzing of every input surface", () => {
  for (const s of surfaces) {
    it(`${s.name}: ${s.description}`, { timeout: 300_000 }, () => {
      fc.assert(
        fc.property(s.arbitrary, (input) => s.run(input)),
        { numRuns: s.cheap ? RUNS.cheap : RUNS.costly, seed: 10 },
      );
    });
  }
});
