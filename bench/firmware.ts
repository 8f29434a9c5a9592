import { existsSync, readFileSync } from "node:fs";
import { Machine } from "../src/index.js";
import { runFirmware } from "../src/cli/boot.js";
import { median } from "./stats.js";

const SEABIOS = "/usr/share/seabios/bios.bin";
const MARKER = "PCI: No VGA devices found";

/**
 * Real firmware over machbus: SeaBIOS on v86 with the e1000 scenario of test/fixtures/seabios
 * (`-m 64 -device e1000`). Returns the median, over `runs` boots, of the wall time in ms from
 * the emulator's first instruction (v86's wasm already loaded) to the end of PCI init. Null, said
 * in one line, without Debian's seabios.
 */
export async function benchFirmware(bios = SEABIOS, runs = 5): Promise<number | null> {
  if (!existsSync(bios)) {
    console.log(`SeaBIOS boot: skipped, no ${bios} (apt-get install seabios, or run npm test once)`);
    return null;
  }
  const firmware = new Uint8Array(readFileSync(bios));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const machine = Machine.create({ memory: "64M", devices: ["isa-debugcon,iobase=0x402", "e1000"] });
    const run = await runFirmware(machine, { firmware, until: MARKER, timeoutMs: 30_000 });
    if (run.markerMs === null) throw new Error(`SeaBIOS did not reach "${MARKER}"; its log:\n${run.log}`);
    times.push(run.markerMs);
  }
  return median(times);
}
