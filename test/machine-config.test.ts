import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Machine, MachbusError } from "../src/index.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import {
  dumpMachineConfig,
  formatMachineConfig,
  machineConfigJsonSchema,
  machineOptionsFromConfig,
  parseMachineConfig,
  type MachineConfig,
} from "../src/state/machine-config.js";
import { machbus } from "./support/cli.js";
import { BarTestDevice } from "./support/test-devices.js";

const drivers = [BarTestDevice];

/** dump -> text -> parse -> build: what `machbus dump-config` then `--config` does. */
function roundTrip(m: Machine, format: "yaml" | "json" = "yaml"): Machine {
  const text = formatMachineConfig(dumpMachineConfig(m), format);
  return Machine.create({ ...machineOptionsFromConfig(parseMachineConfig(text, "m.yaml"), "m.yaml"), drivers });
}

const SCENARIO = [
  "pci-bridge,id=br1,chassis_nr=1", // auto-placed
  "test-bars,id=mf0,addr=6.0,multifunction=on",
  "test-bars,id=mf1,addr=6.1,msi=on",
  "test-bars,id=mf3,addr=6.3",
  "test-bars,bus=br1", // auto-placed behind the bridge
  "pci-bridge,id=br2,chassis_nr=2,bus=br1,addr=7",
  "test-bars,id=deep,bus=br2,revision=3",
  "test-bars,express=on", // auto-placed, 4096-byte space
];

/** Every catalogue device once (read-only properties such as virtio-backend must not be dumped). */
const CATALOGUE = [
  "e1000",
  "rtl8139",
  "ne2k_pci",
  "virtio-net-pci",
  "virtio-blk-pci,drive=d",
  "virtio-serial-pci",
  "virtio-balloon-pci",
  "VGA",
  "lsi53c895a",
  "intel-hda",
  "piix3-usb-uhci",
  "isa-debugcon,iobase=0x402",
];

describe("machine config dump and reload", () => {
  for (const type of ["pc", "pc-qemu-1.4", "pc-qemu-0.10"]) {
    it(`every catalogue device survives dump and reload, on ${type}`, () => {
      const m = Machine.create({ machine: type, devices: CATALOGUE, drives: ["if=none,id=d,file=d.img"] });
      const text = formatMachineConfig(dumpMachineConfig(m, { withHost: true }));
      const again = Machine.create(machineOptionsFromConfig(parseMachineConfig(text, "m.yaml"), "m.yaml"));
      expect(lspciDump(again, 4)).toBe(lspciDump(m, 4));
      expect(formatMachineConfig(dumpMachineConfig(again, { withHost: true }))).toBe(text);
    });
  }

  for (const type of ["pc", "pc-qemu-0.10"]) {
    it(`reloading a dump gives a byte-identical machine (lspci -xxxx), on ${type}`, () => {
      const m = Machine.create({ machine: type, devices: SCENARIO, drivers });
      const again = roundTrip(m);
      expect(lspciDump(again, 4)).toBe(lspciDump(m, 4));
      expect(formatMachineConfig(dumpMachineConfig(again))).toBe(formatMachineConfig(dumpMachineConfig(m)));
      const json = roundTrip(m, "json");
      expect(lspciDump(json, 4)).toBe(lspciDump(m, 4));
    });
  }

  it("a dump records the resolved machine type (never the alias), every address and every property", () => {
    const m = Machine.create({ machine: "pc", devices: ["test-bars", "pci-bridge,chassis_nr=4,id=b"], drivers });
    const dump = dumpMachineConfig(m);
    expect(dump.machine.type).toBe("pc-qemu-7.2");
    expect(dump.complete).toBe(true);
    expect(dump.devices!.map((d) => [d.driver, d.bus, d.addr])).toEqual([
      ["test-bars", "pci.0", "02.0"],
      ["pci-bridge", "pci.0", "03.0"],
    ]);
    expect(dump.devices![1]!.properties).toMatchObject({ chassis_nr: 4, msi: "auto", shpc: true, rombar: 1, multifunction: false });
  });

  it("removing one of 10 auto-placed devices from a dump moves none of the other 9", () => {
    const m = Machine.create({ devices: Array.from({ length: 10 }, (_, i) => `test-bars,id=d${i}`), drivers });
    const dump = dumpMachineConfig(m);
    const slots = (c: MachineConfig) => Object.fromEntries(c.devices!.map((d) => [d.id, d.addr]));
    const before = slots(dump);
    const edited = { ...dump, devices: dump.devices!.filter((d) => d.id !== "d4") };
    const rebuilt = Machine.create({ ...machineOptionsFromConfig(edited, "m.yaml"), drivers });
    const after = slots(dumpMachineConfig(rebuilt));
    delete before.d4;
    expect(after).toEqual(before);
  });

  it("a device added to a dump without addr takes a free slot, moves no one, and the next dump records it", () => {
    const m = Machine.create({ devices: Array.from({ length: 4 }, (_, i) => `test-bars,id=d${i}`), drivers });
    const dump = dumpMachineConfig(m);
    const freed = { ...dump, devices: dump.devices!.filter((d) => d.id !== "d1") }; // slot 03 free now
    // the new device comes first in the file, yet recorded addresses are placed first
    const edited = { ...freed, devices: [{ driver: "test-bars", id: "new" }, ...freed.devices!] };
    const rebuilt = Machine.create({ ...machineOptionsFromConfig(edited, "m.yaml"), drivers });
    const next = dumpMachineConfig(rebuilt);
    expect(Object.fromEntries(next.devices!.map((d) => [d.id, d.addr]))).toEqual({ d0: "02.0", d2: "04.0", d3: "05.0", new: "03.0" });
  });

  it("device_del then device_add of another device moves no one", () => {
    const m = Machine.create({ devices: ["test-bars,id=a", "test-bars,id=b", "test-bars,id=c"], drivers });
    const before = dumpMachineConfig(m).devices!.map((d) => `${d.id}@${d.addr}`);
    m.removeDevice("b");
    m.addDevice("pci-bridge,chassis_nr=9,id=x");
    const after = dumpMachineConfig(m).devices!.map((d) => `${d.id}@${d.addr}`);
    expect(after).toEqual(["a@02.0", "c@04.0", "x@03.0"]);
    expect(after.filter((d) => before.includes(d))).toEqual(["a@02.0", "c@04.0"]);
  });

  it("a complete dump keeps its own values; a partial file gets the current defaults", () => {
    const partial = parseMachineConfig(
      "machbus: 1\nmachine: { type: pc-qemu-2.0 }\ndevices:\n  - { driver: pci-bridge, properties: { chassis_nr: 1 } }\n",
      "p.yaml",
    );
    const m = Machine.create(machineOptionsFromConfig(partial, "p.yaml"));
    expect(m.devices().at(-1)!.props.msi).toBe("auto"); // today's default
    const complete = parseMachineConfig(
      "machbus: 1\ncomplete: true\nmachine: { type: pc-qemu-2.0 }\ndevices:\n  - { driver: pci-bridge, addr: '05.0', properties: { chassis_nr: 1, msi: 'off', shpc: false } }\n",
      "c.yaml",
    );
    const c = Machine.create(machineOptionsFromConfig(complete, "c.yaml"));
    expect(c.devices().at(-1)!.props.msi).toBe("off");
    expect(c.configRead(0, 5 << 3, 0x34) & 0xff).toBe(0x40); // no SHPC and no MSI: only the slot id capability
  });

  it("host configuration lives apart and never changes a guest-visible byte", () => {
    const a = Machine.create({ devices: ["test-bars"], drives: ["if=none,id=d0,file=/srv/a.img"], drivers });
    const b = Machine.create({ devices: ["test-bars"], drives: ["if=none,id=d0,file=/mnt/other.qcow2,format=qcow2"], drivers });
    expect(lspciDump(a, 4)).toBe(lspciDump(b, 4));
    expect(dumpMachineConfig(a).host).toEqual({ drives: [{ id: "d0", file: "/srv/a.img", if: "none" }] });
    expect(dumpMachineConfig(a, { withHost: false }).host).toBeUndefined();
  });

  it("the published JSON Schema is the one the loader validates with", () => {
    const published = JSON.parse(readFileSync(new URL("../docs/machine-config.schema.json", import.meta.url), "utf8"));
    expect(published).toEqual(machineConfigJsonSchema());
  });

  it("bad files are refused with file, line and field", () => {
    const bad = (text: string) => {
      try {
        const c = parseMachineConfig(text, "m.yaml");
        Machine.create({ ...machineOptionsFromConfig(c, "m.yaml"), drivers });
      } catch (e) {
        return (e as MachbusError).describe();
      }
      return "accepted";
    };
    expect(bad("machbus: 1\nmachine: { type: pc }\ndevices:\n  - driver: e1000\n    adr: 5\n")).toBe(
      "m.yaml:5: devices[0]: unknown key 'adr'",
    );
    expect(bad("machbus: 1\nmachine: { type: pc }\ndevices:\n  - { driver: test-bars, addr: '5.9' }\n")).toMatch(
      /^m\.yaml:4: devices\[0\]\.addr: SLOT\[\.FUNCTION\] in hex/,
    );
    expect(bad("machbus: 2\nmachine: { type: pc }\n")).toBe("m.yaml:1: machbus: must be 1");
    expect(bad("machbus: 1\nmachine: { type: pc\n")).toMatch(/^m\.yaml:\d+:\d+: /);
    expect(bad("machbus: 1\nmachine: { type: pc }\ndevices:\n  - { driver: test-bars, addr: '02.0' }\n  - { driver: nosuch }\n")).toMatch(
      /^m\.yaml: devices\[1\] \(nosuch\): 'nosuch' is not a valid device model name/,
    );
    expect(bad("machbus: 1\nmachine: { type: pc }\ndevices:\n  - { driver: test-bars, properties: { msi: maybe } }\n")).toBe(
      "m.yaml: devices[0] (test-bars): Property 'test-bars.msi' doesn't take value 'maybe' (expected on or off)",
    );
  });
});

describe("dumps under YAML 1.1 readers (PyYAML, Ruby's Psych)", () => {
  const NICS = ["e1000", "rtl8139", "ne2k_pci", "virtio-net-pci", "pci-bridge,id=on,chassis_nr=1", "e1000,bus=on,id=no"];

  it("dump-config's MACs (52:54:00:12:34:56 is a base-60 integer in YAML 1.1), ids and bus names read back as the strings they are", () => {
    const r = machbus(["dump-config", ...NICS.flatMap((d) => ["--device", d])]);
    expect(r.stderr).toBe("");
    const as11 = parse(r.stdout, { version: "1.1" }) as MachineConfig;
    expect(as11).toEqual(dumpMachineConfig(Machine.create({ devices: NICS })));
    expect(as11.devices!.map((d) => d.properties!.mac).filter((mac) => mac !== undefined)).toEqual([
      "52:54:00:12:34:56",
      "52:54:00:12:34:57",
      "52:54:00:12:34:58",
      "52:54:00:12:34:59",
      "52:54:00:12:34:5a",
    ]);
    expect(as11.devices!.slice(-2).map((d) => [d.id, d.bus])).toEqual([
      ["on", "pci.0"],
      ["no", "on"],
    ]);
  });

  it("every scalar YAML 1.1 would take for a number, boolean, null, date or merge key is written quoted, as key and as value", () => {
    const tricky = ["on", "off", "yes", "No", "y", "N", "TRUE", "~", "null", "0x1f", "0b101", "017", "0o17", "1_000", "-1", "+1"];
    tricky.push("1:20", "1:20.5", "52:54:00:12:34:56", "2001-12-14", "2001-12-14t21:59:43.10-05:00", ".inf", ".NaN", "1e3", ".5");
    tricky.push("=", "<<", "e1000");
    const config: MachineConfig = {
      machbus: 1,
      machine: { type: "pc", options: Object.fromEntries(tricky.map((v) => [v, v])) },
      globals: tricky,
    };
    const text = formatMachineConfig(config);
    expect(parse(text, { version: "1.1" })).toEqual(config);
    expect(parse(text)).toEqual(config);
    expect(text).toContain('"52:54:00:12:34:56": "52:54:00:12:34:56"');
  });
});
