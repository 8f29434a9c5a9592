import { describe, expect, it } from "vitest";
import { Machine, type DeviceEvent } from "../src/index.js";
import type { MachbusError } from "../src/errors.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { loadTranscript, runQtest, type TranscriptStep } from "./support/qemu-fixtures.js";

/**
 * Hotplug through pcie-root-port, replayed from QEMU 7.2's transcripts (fixtures/qemu/q35/transcripts):
 * every config cycle the guest makes, every device_add / device_del and its answer, the
 * DEVICE_DELETED events and `info pci`, on machbus's real root port, e1000e and q35 machine.
 */
interface Replay {
  mismatches: string[];
  machine: Machine;
}

/** The `device_add` spec QMP's arguments stand for. */
const specOf = (args: Record<string, string>): string =>
  [args.driver, ...Object.entries(args).flatMap(([k, v]) => (k === "driver" ? [] : [`${k}=${v}`]))].join(",");

function replay(
  name: string,
  options: { globals?: string[]; skip?: (step: TranscriptStep) => boolean; stopAt?: (step: TranscriptStep) => boolean } = {},
): Replay {
  const { steps, devices } = loadTranscript(name);
  const machine = Machine.create({ machine: "pc-q35-7.2", devices, globals: options.globals });
  const deleted: string[] = [];
  machine.events.on("device-deleted", (e: DeviceEvent) => deleted.push(e.id!));
  const mismatches: string[] = [];
  for (const [i, step] of steps.entries()) {
    if (options.stopAt?.(step)) break;
    if (options.skip?.(step)) continue;
    const where = `step ${i}${step.note ? ` (${step.note})` : ""}`;
    if ("qtest" in step) {
      const got = runQtest(machine, step.qtest);
      if (got !== step.answer) mismatches.push(`${where}: ${step.qtest}: QEMU ${step.answer}, machbus ${got}`);
    } else if ("qmp" in step) {
      let error: string | undefined;
      try {
        if (step.qmp === "device_add") machine.addDevice(specOf(step.arguments!));
        else if (step.qmp === "device_del") machine.removeDevice(step.arguments!.id!);
        else throw new Error(`unexpected QMP command ${step.qmp}`);
      } catch (e) {
        error = (e as MachbusError).message;
      }
      if (error !== step.error?.desc) mismatches.push(`${where}: ${step.qmp}: QEMU ${step.error?.desc ?? "ok"}, machbus ${error ?? "ok"}`);
    } else if ("hmp" in step) {
      if (formatInfoPci(machine) !== step.output) mismatches.push(`${where}: info pci differs`);
    }
    // QEMU sends DEVICE_DELETED after an RCU grace period, so the transcript has it a few steps
    // after the cycle that caused it: machbus's (synchronous) events are compared there.
    const want = (step.events ?? []).filter((e) => e.event === "DEVICE_DELETED").map((e) => (e.data as { device: string }).device);
    if (want.length && want.join() !== deleted.join()) mismatches.push(`${where}: DEVICE_DELETED QEMU [${want}], machbus [${deleted}]`);
    if (want.length) deleted.length = 0;
  }
  if (deleted.length) mismatches.push(`end: DEVICE_DELETED QEMU [], machbus [${deleted}]`);
  return { mismatches, machine };
}

describe("native PCIe hotplug through pcie-root-port (ACPI PCI hotplug off), as QEMU 7.2's transcript shows it", () => {
  const { steps } = loadTranscript("hotplug-native");
  const globals = ["ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"];

  it("replays every step with QEMU's answers: slot control/status, link, presence detect, attention button, power, the guest's unplug", () => {
    expect(steps.filter((s) => "qtest" in s).length).toBeGreaterThan(140);
    expect(replay("hotplug-native", { globals }).mismatches).toEqual([]);
  });

  it("device_add sets presence detect, its change and the attention button; the slot stays powered off until the guest powers it", () => {
    const m = Machine.create({ machine: "q35", devices: ["pcie-root-port,id=rp1,chassis=1"], globals });
    m.configWrite(0, 0x08, 0x18, 4, 0x00010100);
    m.addDevice("e1000e,bus=rp1,id=nic1");
    expect(m.configRead(0, 0x08, 0x6c) >>> 16).toBe(0x0049); // PDS | PDC | ABP
    expect(m.configRead(1, 0, 0)).toBe(0xffffffff); // power controller still off
    m.configWrite(0, 0x08, 0x6c, 2, 0x01f9); // power on, power indicator on
    expect(m.configRead(1, 0, 0)).toBe(0x10d38086);
  });

  it("device_del only presses the attention button; the device goes when the guest powers the slot off", () => {
    const m = Machine.create({ machine: "q35", devices: ["pcie-root-port,id=rp1,chassis=1", "e1000e,bus=rp1,id=nic1"], globals });
    m.configWrite(0, 0x08, 0x18, 4, 0x00010100);
    const deleted: string[] = [];
    m.events.on("device-deleted", (e) => deleted.push(e.id!));
    m.removeDevice("nic1");
    expect(deleted).toEqual([]);
    expect(m.findDevice("nic1")).toBeDefined();
    expect((m.configRead(0, 0x08, 0x6c) >>> 16) & 0x01).toBe(0x01); // attention button pressed
    m.configWrite(0, 0x08, 0x6c, 2, 0x07c0); // power indicator off, power off
    expect(deleted).toEqual(["nic1"]);
    expect(m.findDevice("nic1")).toBeUndefined();
    expect((m.configRead(0, 0x08, 0x6c) >>> 16) & 0x48).toBe(0x08); // PDC, no longer PDS
  });

  it("a slot with hotplug=off refuses device_add with QEMU's text and nothing changes", () => {
    const m = Machine.create({ machine: "q35", devices: ["pcie-root-port,id=rp1,chassis=1,hotplug=off"], globals });
    const before = m.devices().length;
    expect(() => m.addDevice("e1000e,bus=rp1")).toThrow("Bus 'rp1' does not support hotplugging");
    expect(m.devices().length).toBe(before);
  });
});

describe("ACPI PCI hotplug (q35's 7.2 default) through a root port present at start-up", () => {
  // The ACPI hotplug registers (0xcc0-0xcd7) and GPE0 are not modelled: those steps are skipped,
  // and the replay stops at the first device_del: QEMU then waits for the guest's ACPI eject,
  // which machbus does not model (it removes the device at once).
  const acpiPort = (s: TranscriptStep): boolean => "qtest" in s && / 0x(cc|cd|62)[0-9a-f]\b/.test(s.qtest);

  it("device_add powers the slot without presence-detect events; config cycles as QEMU answers them", () => {
    const { mismatches } = replay("hotplug-acpi", { skip: acpiPort, stopAt: (s) => "qmp" in s && s.qmp === "device_del" });
    expect(mismatches).toEqual([]);
  });
});
