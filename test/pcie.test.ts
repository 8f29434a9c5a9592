import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { PCIE_TYPE } from "../src/pci/pcie.js";
import { hex32, loadQ35Fixture, loadTranscript, replayConfigProtocol, replayEcamProtocol, runQtest } from "./support/qemu-fixtures.js";
import { PcieEndpointTestDevice, RootPortTestDevice } from "./support/test-devices.js";

/**
 * The PCI Express capability, slot and extended capabilities of src/pci/pcie*.ts, on test devices
 * laid out as QEMU's e1000e and pcie-root-port are, against those devices' bytes in the QEMU 7.2
 * fixtures: reset values and write-ones read-backs through mechanism #1 and ECAM, over the
 * capabilities' ranges (the rest of those devices is theirs, not the engine's).
 */
const drivers = [PcieEndpointTestDevice, RootPortTestDevice];

/** The fixture's command line with `driver` standing in for QEMU's device of that kind. */
function standIn(name: string, driver: string) {
  const fixture = loadQ35Fixture(name);
  return { fixture, machine: () => Machine.create({ machine: fixture.machine, devices: [driver], drivers }) };
}

/** Dwords [from, to) of a function's arrays, with the bytes of `maskBytes` (offsets) blanked: what the comparison covers. */
function range(dwords: readonly (string | null)[], from: number, to: number, maskBytes: number[] = []): string[] {
  return dwords.slice(from / 4, to / 4).map((d, i) => {
    let v = parseInt(d!, 16);
    for (const b of maskBytes) if (b >> 2 === from / 4 + i) v &= ~(0xff << (8 * (b & 3)));
    return hex32(v);
  });
}

const fn = <T extends { bdf: string }>(list: readonly T[], bdf: string): T => list.find((f) => f.bdf === bdf)!;

describe("an endpoint's PCI Express capability and extended capabilities, as QEMU's e1000e has them on the q35 root bus", () => {
  const { fixture, machine } = standIn("e1000e", "test-pcie-endpoint");
  // 0xe1 is the next-capability pointer: e1000e has more capabilities than the stand-in.
  const NEXT = [0xe1];

  it("is a root complex integrated endpoint on pcie.0, and a plain endpoint elsewhere", () => {
    const onRoot = machine().findDevice("") ?? (machine().devices().at(-1)!.device as PcieEndpointTestDevice);
    expect((onRoot as PcieEndpointTestDevice).cap.type).toBe(PCIE_TYPE.rcEndpoint);
    const behind = Machine.create({
      machine: "q35",
      devices: ["pci-bridge,id=b,chassis_nr=1", "test-pcie-endpoint,id=ep,bus=b,addr=1"],
      drivers,
    });
    expect((behind.findDevice("ep") as PcieEndpointTestDevice).cap.type).toBe(PCIE_TYPE.endpoint);
  });

  it("capability version 1 at 0xe0: reset values and write-ones through mechanism #1 equal QEMU's", () => {
    const want = fn(fixture.functions, "00:01.0");
    const got = fn(replayConfigProtocol(machine(), fixture).functions, "00:01.0");
    expect(range(got.reset, 0xe0, 0xf4, NEXT)).toEqual(range(want.reset, 0xe0, 0xf4, NEXT));
    expect(range(got.writeOnes, 0xe0, 0xf4, NEXT)).toEqual(range(want.writeOnes, 0xe0, 0xf4, NEXT));
  });

  it("AER at 0x100, the serial number at 0x140 inside it, then plain storage to 0xfff: through ECAM as QEMU", () => {
    const want = fn(fixture.ecam!.functions, "00:01.0");
    const got = fn(replayEcamProtocol(machine(), fixture.ecam!).functions, "00:01.0");
    // The serial number (0x144-0x14b) is e1000e's MAC there: only its read-only-ness is compared.
    expect(range(got.reset, 0x100, 0x144)).toEqual(range(want.reset, 0x100, 0x144));
    expect(range(got.writeOnes, 0x100, 0x144)).toEqual(range(want.writeOnes, 0x100, 0x144));
    expect(range(got.writeOnes, 0x144, 0x14c)).toEqual(range(got.reset, 0x144, 0x14c));
    expect(range(want.writeOnes, 0x144, 0x14c)).toEqual(range(want.reset, 0x144, 0x14c));
    expect(range(got.reset, 0x14c, 0x1000)).toEqual(range(want.reset, 0x14c, 0x1000));
    expect(range(got.writeOnes, 0x14c, 0x1000)).toEqual(range(want.writeOnes, 0x14c, 0x1000));
  });
});

describe("a root port's PCI Express capability, slot, AER and ACS, as QEMU's pcie-root-port has them (rp-empty)", () => {
  const { fixture, machine } = standIn("rp-empty", "test-root-port");
  const NEXT = [0x55];

  it("capability version 2 at 0x54 with link, slot and root registers: mechanism #1 as QEMU, write-ones included", () => {
    const want = fn(fixture.functions, "00:01.0");
    const got = fn(replayConfigProtocol(machine(), fixture).functions, "00:01.0");
    expect(range(got.reset, 0x54, 0x90, NEXT)).toEqual(range(want.reset, 0x54, 0x90, NEXT));
    expect(range(got.writeOnes, 0x54, 0x90, NEXT)).toEqual(range(want.writeOnes, 0x54, 0x90, NEXT));
  });

  it("AER with root registers at 0x100, ACS at 0x148, storage to 0xfff: through ECAM as QEMU", () => {
    const want = fn(fixture.ecam!.functions, "00:01.0");
    const got = fn(replayEcamProtocol(machine(), fixture.ecam!).functions, "00:01.0");
    expect(range(got.reset, 0x100, 0x1000)).toEqual(range(want.reset, 0x100, 0x1000));
    expect(range(got.writeOnes, 0x100, 0x1000)).toEqual(range(want.writeOnes, 0x100, 0x1000));
  });

  it("writing all ones to the slot control leaves the interlock toggled and a command completed, as on QEMU", () => {
    const m = machine();
    const want = fixture.functions.find((f) => f.bdf === "00:01.0") as (typeof fixture.functions)[number] & {
      changedAfter: Record<string, string>;
    };
    replayConfigProtocol(m, fixture);
    expect(hex32(m.configRead(0, 0x08, 0x6c))).toBe(want.changedAfter["0x6c"]);
  });
});

describe("slot power and link, with a device below the root port", () => {
  function portWithDevice() {
    const m = Machine.create({ machine: "q35", devices: ["test-root-port,id=rp", "test-pcie-endpoint,id=ep,bus=rp"], drivers });
    m.configWrite(0, 0x08, 0x18, 4, 0x00010100); // secondary bus 1
    return m;
  }

  it("link status follows the device below on every read (QEMU's pcie_sync_bridge_lnk): x1 at 2.5 GT/s", () => {
    const m = portWithDevice();
    expect(m.configRead(0, 0x08, 0x64) >>> 16).toBe(0x0011);
    const empty = Machine.create({ machine: "q35", devices: ["test-root-port"], drivers });
    expect(empty.configRead(0, 0x08, 0x64) >>> 16).toBe(0x0204); // the port's own x32 at 16 GT/s
  });

  it("the power controller powers the device below off and on: config cycles reach it only while powered", () => {
    const m = portWithDevice();
    expect(m.configRead(1, 0, 0)).toBe(0x11fe1234);
    m.configWrite(0, 0x08, 0x6c, 2, 0x07c0); // power controller off
    expect(m.configRead(1, 0, 0)).toBe(0xffffffff);
    m.configWrite(0, 0x08, 0x6c, 2, 0x03c0); // on again
    expect(m.configRead(1, 0, 0)).toBe(0x11fe1234);
  });

  it("EIC reads back 0 and toggles the interlock; a slot locked that way refuses hot-add", () => {
    const m = portWithDevice();
    const slot = (m.findDevice("rp") as RootPortTestDevice).slot;
    m.configWrite(0, 0x08, 0x6c, 2, 0x0800 | 0x03c0);
    expect(m.configRead(0, 0x08, 0x6c) & 0x0800).toBe(0);
    expect(slot.status & 0x80).toBe(0x80);
    expect(() => slot.checkPlug(true, "rp")).toThrow("slot is electromechanically locked");
    m.configWrite(0, 0x08, 0x6c, 2, 0x0800 | 0x03c0);
    expect(slot.status & 0x80).toBe(0);
  });

  it("a hot-add sets presence detect, its change and the attention button, and signals INTx when enabled", () => {
    const m = Machine.create({ machine: "q35", devices: ["test-root-port,id=rp"], drivers });
    const rp = m.findDevice("rp") as RootPortTestDevice;
    m.configWrite(0, 0x08, 0x6c, 2, 0x07f9); // HPIE, CCIE, PDCE, ABPE: a command completes...
    expect(rp.slot.status & 0x10).toBe(0x10);
    expect(rp.function.irqState).toBe(0); // ...but the same write's AER step drops INTx again, as on QEMU
    m.configWrite(0, 0x08, 0x6e, 2, 0x0010); // the guest clears CC
    rp.slot.plugged({ hotplugged: true, functionZero: true, linkActive: true });
    expect(rp.slot.status & 0x49).toBe(0x49); // PDS, PDC, ABP
    expect(rp.function.irqState).toBe(1);
    expect(m.configRead(0, 0x08, 0x64) & 0x20000000).toBe(0x20000000); // DLLLA
  });
});

describe("the slot as QEMU's native-hotplug transcript shows it before the first device_add (transcripts/hotplug-native.json)", () => {
  it("enabling slot events, clearing the status the way a driver does, and writing all ones to it: QEMU's answers", () => {
    const { steps } = loadTranscript("hotplug-native");
    const m = Machine.create({ machine: "q35", devices: ["test-root-port,id=rp1"], drivers });
    const firstQmp = steps.findIndex((s) => "qmp" in s);
    const mismatches: string[] = [];
    for (const step of steps.slice(0, firstQmp)) {
      if (!("qtest" in step)) continue;
      const got = runQtest(m, step.qtest);
      if (got !== step.answer) mismatches.push(`${step.qtest}: QEMU ${step.answer}, machbus ${got}`);
    }
    expect(firstQmp).toBeGreaterThan(20);
    expect(mismatches).toEqual([]);
  });

  it("a write that clears events which were not set puts back the ones that were (QEMU's guard for guests clearing all)", () => {
    const m = Machine.create({ machine: "q35", devices: ["test-root-port,id=rp"], drivers });
    const slot = (m.findDevice("rp") as RootPortTestDevice).slot;
    m.configWrite(0, 0x08, 0x6c, 2, 0x07c0); // a command: CC is set
    expect(slot.status & 0x10).toBe(0x10);
    m.configWrite(0, 0x08, 0x6e, 2, 0x01ff);
    expect(slot.status & 0x10).toBe(0x10);
    m.configWrite(0, 0x08, 0x6e, 2, 0x0010);
    expect(slot.status & 0x10).toBe(0);
  });
});
