import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Machine } from "../src/index.js";
import { benchConfigRead } from "./config-read.js";

/**
 * `npm run bench`: speed and memory figures, printed and written to bench/results.json (the
 * issues' targets are checked against these, never by timed unit tests).
 */
const RESULTS = new URL("../../bench/results.json", import.meta.url);

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};

  const pc = Machine.create();
  const cr = await benchConfigRead(pc);
  console.log(`config read (pc, ${cr.functions} functions): full path ${fmt(cr.opsPerSec)}/s, raw DataView ${fmt(cr.rawOpsPerSec)}/s, ratio ${cr.ratio.toFixed(3)}`);
  results.configRead = { opsPerSec: Math.round(cr.opsPerSec), rawOpsPerSec: Math.round(cr.rawOpsPerSec), ratio: Number(cr.ratio.toFixed(4)) };

  mkdirSync(new URL(".", RESULTS), { recursive: true });
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>;
  } catch {
    // first run
  }
  writeFileSync(RESULTS, JSON.stringify({ ...previous, ...results }, null, 2) + "\n");
  console.log(`results written to bench/results.json`);
}

await main();
