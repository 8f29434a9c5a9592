import { describe, expect, it } from "vitest";
import { Machine, MachbusError } from "../src/index.js";
import { Mch } from "../devices/mch.js";
import { BarTestDevice } from "./support/test-devices.js";
import { loadTranscript, mmcfgDuring, qtestValue, runQtest, type TranscriptStep } from "./support/qemu-fixtures.js";

/** The MCH of a q35 machine and where its ECAM window decodes now. */
const mchOf = (m: Machine): Mch => m.devices().find((p) => p.device instanceof Mch)!.device as Mch;
const ecamMapping = (m: Machine) => m.memory.regions().find((r) => r.region.name === "pcie-mmcfg-mmio") ?? null;

/**
 * Replays a transcript's qtest and QMP steps on a fresh `-M q35`. Reads QEMU answered from
 * inside its MMCONFIG window must match exactly; outside it QEMU reads 0 where nothing decodes
 * and machbus reads all ones (a deliberate difference, see the README), so there the check is
 * that machbus did not take the access as ECAM.
 */
function replay(steps: readonly TranscriptStep[]): { m: Machine; mismatches: string[] } {
  const m = Machine.create({ machine: "q35" });
  const during = mmcfgDuring(steps);
  const mismatches: string[] = [];
  steps.forEach((step, i) => {
    if ("qtest" in step) {
      const got = runQtest(m, step.qtest);
      const addr = parseInt(step.qtest.split(" ")[1]!, 16);
      const window = during[i] ?? null;
      const inEcam = window !== null && addr >= window.base && addr < window.base + window.size;
      if (step.qtest.startsWith("read") && !inEcam) {
        if (qtestValue(step.answer) !== 0 || qtestValue(got) !== 0xffffffff)
          mismatches.push(`${step.qtest}: QEMU ${step.answer}, machbus ${got} (outside ECAM)`);
      } else if (got !== step.answer) mismatches.push(`${step.qtest}: QEMU ${step.answer}, machbus ${got}`);
    } else if ("mmcfg" in step) {
      const window = mchOf(m).ecamWindow;
      const want = step.mmcfg ? { base: Number(step.mmcfg.base), size: Number(step.mmcfg.size) } : null;
      if (JSON.stringify(window) !== JSON.stringify(want))
        mismatches.push(`mmcfg: QEMU ${JSON.stringify(want)}, machbus ${JSON.stringify(window)}`);
      const mapped = ecamMapping(m);
      if ((mapped ? { base: mapped.base, size: mapped.region.size } : null)?.base !== want?.base)
        mismatches.push(`memory map: ${JSON.stringify(mapped?.base)}`);
    } else if ("qmp" in step && step.qmp === "system_reset") {
      m.reset();
    } else throw new Error(`step not replayed here: ${JSON.stringify(step)}`);
  });
  return { m, mismatches };
}

describe("PCIEXBAR against QEMU 7.2 (transcripts/pciexbar.json)", () => {
  const { steps } = loadTranscript("pciexbar");

  it("moves, resizes, enables and disables ECAM exactly as QEMU: every read, every window", () => {
    expect(replay(steps).mismatches).toEqual([]);
  });

  it("checks something at every size: the transcript has reads inside and outside each window QEMU mapped", () => {
    const during = mmcfgDuring(steps);
    const sizes = new Set(during.filter((w) => w).map((w) => w!.size));
    expect([...sizes].sort((a, b) => a - b)).toEqual([64 << 20, 128 << 20, 256 << 20]);
    const outside = steps.filter(
      (s, i) =>
        "qtest" in s &&
        s.qtest.startsWith("read") &&
        during[i] &&
        parseInt(s.qtest.split(" ")[1]!, 16) >= during[i]!.base + during[i]!.size,
    );
    expect(outside.length).toBeGreaterThan(5);
  });
});

describe("ECAM accesses against QEMU 7.2 (transcripts/ecam-access.json)", () => {
  it("every size and alignment, conventional functions past 0xff, absent functions, writes: QEMU's answers", () => {
    expect(replay(loadTranscript("ecam-access").steps).mismatches).toEqual([]);
  });
});

describe("ECAM in the memory space", () => {
  const PCIEXBAR = 0x60;

  it("appears where the guest enables it and disappears when it disables it, with events for an embedder", () => {
    const m = Machine.create({ machine: "q35" });
    const moves: [number | null, number | null, number][] = [];
    m.events.on("region-mapped", (e) => e.region === "pcie-mmcfg-mmio" && moves.push([e.oldAddress, e.newAddress, e.size]));
    m.events.on("region-unmapped", (e) => e.region === "pcie-mmcfg-mmio" && moves.push([e.oldAddress, e.newAddress, e.size]));
    expect(ecamMapping(m)).toBeNull();
    expect(m.memRead(0xb0000000, 4)).toBe(0xffffffff);
    m.configWrite(0, 0, PCIEXBAR, 4, 0xb0000001);
    expect(ecamMapping(m)?.base).toBe(0xb0000000);
    expect(m.memRead(0xb0000000, 4)).toBe(0x29c08086);
    m.configWrite(0, 0, PCIEXBAR, 4, 0xe0000005); // 64 MiB at 0xe0000000
    expect(m.memRead(0xb0000000, 4)).toBe(0xffffffff);
    expect(m.memRead(0xe00f8000, 4)).toBe(0x29188086); // ICH9-LPC, bus 0 device 31
    m.configWrite(0, 0, PCIEXBAR, 4, 0xe0000004);
    expect(ecamMapping(m)).toBeNull();
    expect(moves).toEqual([
      [null, 0xb0000000, 256 << 20],
      [0xb0000000, 0xe0000000, 64 << 20],
      [0xe0000000, null, 64 << 20],
    ]);
  });

  it("an access past the configured size is not ECAM: bus 64 of a 64 MiB window reads nothing and writes nowhere", () => {
    const m = Machine.create({ machine: "q35" });
    m.configWrite(0, 0, PCIEXBAR, 4, 0xb0000005);
    const past = 0xb0000000 + (64 << 20); // bus 64, device 0: the MCH at bus 0 if the window wrapped
    expect(m.memRead(past, 4)).toBe(0xffffffff);
    m.memWrite(past + 4, 2, 0x0006);
    expect(m.configRead(0, 0, 4)).toBe(0);
    m.memWrite(0xb0000004, 2, 0x0006);
    expect(m.configRead(0, 0, 4) & 0xffff).toBe(0x0006);
  });

  it("a reserved PCIEXBAR length or base bits above 35 change nothing the window does", () => {
    const m = Machine.create({ machine: "q35" });
    m.configWrite(0, 0, PCIEXBAR, 4, 0xb0000001);
    m.configWrite(0, 0, PCIEXBAR, 4, 0xc0000007); // length 11b: QEMU ignores the write's effect
    expect(mchOf(m).ecamWindow).toEqual({ base: 0xb0000000, size: 256 << 20 });
    expect(m.configRead(0, 0, PCIEXBAR)).toBe(0xc0000007); // the register keeps what was written
    m.configWrite(0, 0, PCIEXBAR + 4, 4, 0xfffffff0);
    m.configWrite(0, 0, PCIEXBAR, 4, 0xb0000001);
    expect(mchOf(m).ecamWindow).toEqual({ base: 0xb0000000, size: 256 << 20 });
  });

  it("mechanism #1 reaches only 256 bytes while ECAM reaches the whole space of a PCI Express function", () => {
    const m = Machine.create({ machine: "q35", devices: ["test-bars,express=on"], drivers: [BarTestDevice] });
    m.configWrite(0, 0, PCIEXBAR, 4, 0xb0000001);
    const ecam = 0xb0000000 + (0x08 << 12); // 00:01.0
    m.memWrite(ecam + 0xfc, 4, 0x11223344);
    m.memWrite(ecam + 0x1fc, 4, 0x55667788);
    m.memWrite(ecam + 0xffc, 4, 0x99aabbcc);
    expect([m.memRead(ecam + 0x1fc, 4), m.memRead(ecam + 0xffc, 4)]).toEqual([0x55667788, 0x99aabbcc]);
    m.ioWrite(0xcf8, 4, 0x800008fc);
    expect(m.ioRead(0xcfc, 4)).toBe(0x11223344);
    // A conventional function behind the same ECAM reads all ones past 0xff, and takes no writes there.
    m.memWrite(0xb00f8000 + 0x100, 4, 0x12345678);
    expect(m.memRead(0xb00f8000 + 0x100, 4)).toBe(0xffffffff);
  });

  it("the MCH is not a device a user may add", () => {
    expect(() => Machine.create({ machine: "q35", devices: ["mch"] })).toThrow(MachbusError);
  });
});
