import { GUEST_END, LINUX_GUEST_JSON, bootLinuxGuest, locateLinuxGuest } from "../test/support/linux-guest.js";
import { median } from "./stats.js";

const CMDLINE = "console=ttyS0 quiet"; // test/fixtures/linux's command line

export interface LinuxBenchResult {
  /** Median wall time in ms from the first instruction (SeaBIOS) to the end of the guest's PCI dump. */
  msToPciDump: number;
  runs: number[];
  kernel: string;
}

/**
 * Debian's 686 kernel booted by SeaBIOS over machbus on v86 (the chipset alone, -m 128, the
 * conformance initramfs): time to the end of the guest's PCI dump, median of `runs`. Null, said
 * in one line, when the guest is not in the cache (test/setup/linux-guest.mjs builds it).
 */
export async function benchLinux(runs = 3): Promise<LinuxBenchResult | null> {
  const guest = locateLinuxGuest();
  if (!guest) {
    console.log(`Linux boot: skipped, no guest in ${LINUX_GUEST_JSON} (node test/setup/linux-guest.mjs builds it)`);
    return null;
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await bootLinuxGuest(guest, {}, CMDLINE, { until: GUEST_END, timeoutMs: 600_000 });
    if (run.markerMs === null) throw new Error(`the Linux guest did not finish its PCI dump; its output ends:\n${run.log.slice(-2000)}`);
    times.push(Math.round(run.markerMs));
  }
  return { msToPciDump: median(times), runs: times, kernel: guest.kernel.release };
}
