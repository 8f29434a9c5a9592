import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";

/**
 * PIIX4 PM's ACPI side as QEMU 7.2 has it, through real port accesses: the FADT's SMI_CMD
 * (0xb2) commands, the GPE0 block at 0xafe0, and the PCI hotplug registers at 0xae00 that the
 * DSDT's PCNT, DVNT and PCEJ methods use (src/acpi/pc-dsdt.ts).
 */
const PM_BASE = 0x600;
const GPE0_STS = 0xafe0;
const GPE0_EN = 0xafe2;
const PCIU = 0xae00;
const PCID = 0xae04;
const B0EJ = 0xae08;
const BNUM = 0xae10;

/** A pc with PIIX4's PM block at 0x600, as SeaBIOS leaves it, and the SCI's level as the machine reports it. */
function pcWithAcpi(options: { devices?: string[] } = {}): { m: Machine; sci: () => boolean } {
  const m = Machine.create(options);
  m.configWrite(0, 0x0b, 0x40, 4, PM_BASE | 1);
  m.configWrite(0, 0x0b, 0x80, 1, 1);
  let level = false;
  m.events.on("irq", ({ line, level: l }) => {
    if (line === 9) level = l;
  });
  return { m, sci: () => level };
}

const enableAcpi = (m: Machine): void => m.ioWrite(0xb2, 1, 0xf1);

describe("PIIX4 PM: ACPI mode, GPE0 and PCI hotplug registers (QEMU's piix4 and pcihp)", () => {
  it("the ACPI enable command on 0xb2 sets SCI_EN in PM1 control, the disable command clears it; 0xb3 keeps a byte", () => {
    const { m } = pcWithAcpi();
    expect(m.ioRead(PM_BASE + 4, 2) & 1).toBe(0);
    enableAcpi(m);
    expect([m.ioRead(0xb2, 1), m.ioRead(PM_BASE + 4, 2) & 1]).toEqual([0xf1, 1]);
    m.ioWrite(0xb3, 1, 0x5a);
    m.ioWrite(0xb2, 1, 0xf0);
    expect([m.ioRead(0xb3, 1), m.ioRead(PM_BASE + 4, 2) & 1]).toEqual([0x5a, 0]);
  });

  it("device_add sets the slot's bit in PCIU and GPE0 status bit 1; the SCI follows GPE0 enable; PCIU clears when read", () => {
    const { m, sci } = pcWithAcpi();
    enableAcpi(m);
    m.addDevice("e1000,id=hp1");
    expect(m.ioRead(GPE0_STS, 1)).toBe(0x02);
    expect(sci()).toBe(false);
    m.ioWrite(GPE0_EN, 1, 0x02);
    expect(sci()).toBe(true);
    m.ioWrite(BNUM, 4, 0);
    expect(m.ioRead(PCIU, 4)).toBe(1 << 2);
    expect(m.ioRead(PCIU, 4)).toBe(0);
    m.ioWrite(GPE0_STS, 1, 0x02); // write 1 to clear
    expect([m.ioRead(GPE0_STS, 1), sci()]).toEqual([0, false]);
  });

  it("device_del with ACPI in control waits for the guest's eject (PCID, then B0EJ); without it the device goes at once", () => {
    const { m } = pcWithAcpi({ devices: ["e1000,id=nic,addr=5"] });
    const deleted: (string | null)[] = [];
    m.events.on("device-deleted", ({ id }) => deleted.push(id));
    enableAcpi(m);
    m.removeDevice("nic");
    m.ioWrite(BNUM, 4, 0);
    expect([m.findDevice("nic") !== undefined, m.ioRead(PCID, 4), m.ioRead(GPE0_STS, 1)]).toEqual([true, 1 << 5, 0x02]);
    m.ioWrite(B0EJ, 4, 1 << 5);
    expect([m.findDevice("nic"), m.ioRead(PCID, 4), deleted]).toEqual([undefined, 0, ["nic"]]);

    const before = pcWithAcpi({ devices: ["e1000,id=nic,addr=5"] }).m; // no ACPI OS: SCI_EN clear
    before.removeDevice("nic");
    expect(before.findDevice("nic")).toBeUndefined();
  });

  it("a device behind a pci-bridge reports on the bridge's bus (BSEL 1)", () => {
    const { m } = pcWithAcpi({ devices: ["pci-bridge,id=br1,chassis_nr=1,addr=3"] });
    enableAcpi(m);
    m.addDevice("e1000,id=hp1,bus=br1,addr=4");
    m.ioWrite(BNUM, 4, 0);
    expect(m.ioRead(PCIU, 4)).toBe(0);
    m.ioWrite(BNUM, 4, 1);
    expect([m.ioRead(BNUM, 4), m.ioRead(PCIU, 4)]).toEqual([1, 1 << 4]);
  });

  it("a snapshot taken mid-hotplug carries the APM bytes, GPE0, BNUM, PCIU/PCID and the eject the guest has not done yet", () => {
    const board = ["pci-bridge,id=br1,chassis_nr=1,addr=3", "e1000,id=nic,bus=br1,addr=5"];
    const { m: source } = pcWithAcpi({ devices: board });
    enableAcpi(source);
    source.ioWrite(0xb3, 1, 0x5a);
    source.ioWrite(GPE0_EN, 1, 0x02);
    source.addDevice("e1000,id=hp1,addr=6");
    source.removeDevice("nic");
    source.ioWrite(BNUM, 4, 1);
    const stream = source.save();

    const { m: target, sci } = pcWithAcpi({ devices: [...board, "e1000,id=hp1,addr=6"] });
    const deleted: (string | null)[] = [];
    target.events.on("device-deleted", ({ id }) => deleted.push(id));
    target.load(stream);
    expect([target.ioRead(0xb2, 1), target.ioRead(0xb3, 1), target.ioRead(GPE0_STS, 1), target.ioRead(GPE0_EN, 1), sci()]).toEqual([
      0xf1,
      0x5a,
      0x02,
      0x02,
      true,
    ]);
    expect([target.ioRead(BNUM, 4), target.ioRead(PCID, 4)]).toEqual([1, 1 << 5]);
    target.ioWrite(BNUM, 4, 0);
    expect(target.ioRead(PCIU, 4)).toBe(1 << 6);
    // The guest's _EJ0 on the loaded machine completes the device_del the source was waiting on.
    target.ioWrite(BNUM, 4, 1);
    target.ioWrite(B0EJ, 4, 1 << 5);
    expect([target.findDevice("nic"), deleted, target.ioRead(PCID, 4)]).toEqual([undefined, ["nic"], 0]);
    // The stream still holds nic, which this machine no longer has: refused, and nothing changes.
    const after = target.save();
    expect(() => target.load(stream, "mid-hotplug.snap")).toThrow("mid-hotplug.snap: section");
    expect(target.save()).toEqual(after);
  });

  it("a stream from before PIIX4 kept more than PM1 (its pm1 state version 1) loads them as after a reset", () => {
    const { m } = pcWithAcpi();
    enableAcpi(m);
    m.ioWrite(0xb3, 1, 0x5a);
    m.ioWrite(GPE0_EN, 1, 0x02);
    m.ioWrite(BNUM, 4, 1);
    m.load(new Uint8Array(readFileSync(new URL("./fixtures/snapshots/format-2-pci-v2.snap", import.meta.url))));
    expect([m.ioRead(0xb2, 1), m.ioRead(0xb3, 1), m.ioRead(GPE0_EN, 1), m.ioRead(BNUM, 4)]).toEqual([0, 0, 0, 0]);
  });
});

/** A step of test/fixtures/acpi/pcihp.json (regenerate-pcihp.mjs says what each does). */
type PcihpStep =
  | { out: [number, 1 | 2 | 4, number] }
  | { in: [number, 1 | 2 | 4] }
  | { add: string }
  | { del: string }
  | { reset: true }
  | { present: string[] }
  | { deleted: true };

interface PcihpScenario {
  devices: string[];
  steps: PcihpStep[];
  observed: unknown[];
}

/** The steps on machbus, observed as the script observes them on QEMU. */
function replay(scenario: PcihpScenario): unknown[] {
  const m = Machine.create({ devices: scenario.devices });
  const deleted: string[] = [];
  m.events.on("device-deleted", ({ id }) => void (id && deleted.push(id)));
  const observed: unknown[] = [];
  for (const step of scenario.steps) {
    if ("out" in step) m.ioWrite(step.out[0], step.out[1], step.out[2]);
    else if ("in" in step) observed.push(m.ioRead(step.in[0], step.in[1]));
    else if ("add" in step) m.addDevice(step.add);
    else if ("del" in step) m.removeDevice(step.del);
    else if ("reset" in step) m.reset();
    else if ("present" in step) observed.push(step.present.map((id) => m.findDevice(id) !== undefined));
    else observed.push([...deleted]);
  }
  return observed;
}

describe("PIIX4 ACPI PCI hotplug step by step as on QEMU 7.2 (test/fixtures/acpi/pcihp.json)", () => {
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/acpi/pcihp.json", import.meta.url), "utf8")) as {
    scenarios: Record<string, PcihpScenario>;
  };
  const about: Record<string, string> = {
    eject: "the guest ejects slots nobody asked about: what may be hot-unplugged leaves, chips and described bridges stay",
    "reset-completes": "a system reset carries out the device_del the guest has not ejected",
    "cold-bridge": "device_del of a bridge the DSDT describes is asked of the guest, but neither its eject nor a reset removes it",
    bsel: "BSELs follow QEMU's bus list (newest bus first), a hot-plugged bridge's bus has none, and a device behind a bridge is not taken for the root bus's",
  };
  for (const [name, scenario] of Object.entries(fixture.scenarios)) {
    it(`${name}: ${about[name] ?? "as QEMU"}`, () => {
      expect(replay(scenario)).toEqual(scenario.observed);
    });
  }
});
