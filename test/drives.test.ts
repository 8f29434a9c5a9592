import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError, PciDevice, type DeviceEvent } from "../src/index.js";
import type { BusDevice } from "../src/storage/bus-device.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import { Monitor } from "../src/monitor/monitor.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import {
  dumpMachineConfig,
  dumpedDevices,
  formatMachineConfig,
  machineOptionsFromConfig,
  parseMachineConfig,
} from "../src/state/machine-config.js";
import { compareMachineConfigs } from "../src/state/migration.js";
import { QEMU_FIXTURES, machineFor, qtreeAsMachbusPrintsIt } from "./support/qemu-fixtures.js";

interface DriveScenario {
  args: string[];
  images: Record<string, number>;
}

const readJson = <T>(relative: string): T => JSON.parse(readFileSync(QEMU_FIXTURES + relative, "utf8")) as T;
const SCENARIOS = readdirSync(`${QEMU_FIXTURES}drives`)
  .filter((f) => f.endsWith(".json"))
  .map((f) => ({ name: f.slice(0, -".json".length), ...readJson<DriveScenario>(`drives/${f}`) }));

/** Dumps the machine, builds another from the text (on a host with the same images) and dumps that. */
function reload(m: Machine, images: Record<string, number> = {}): { first: string; again: string; copy: Machine } {
  const first = formatMachineConfig(dumpMachineConfig(m));
  const imageSize = (file: string): number | undefined => images[file];
  const copy = Machine.create({ ...machineOptionsFromConfig(parseMachineConfig(first, "m.yaml"), "m.yaml"), imageSize });
  return { first, again: formatMachineConfig(dumpMachineConfig(copy)), copy };
}

describe("drives in the monitor", () => {
  it("device_add and device_del of SCSI and IDE drives answer as QEMU 7.2's HMP does, line for line", () => {
    const fixture = readJson<DriveScenario & { transcript: { command: string; output: string }[] }>("monitor/drives-hotplug.json");
    const monitor = new Monitor(machineFor(fixture));
    for (const { command, output } of fixture.transcript) {
      const qemu = command === "info qtree" ? qtreeAsMachbusPrintsIt(output) : output;
      expect({ command, output: monitor.execute(command).output }).toEqual({ command, output: qemu });
    }
  });

  it("a refused drive leaves no trace: the unit and the drive stay free", () => {
    const m = Machine.create({ devices: ["lsi53c895a,id=s"], drives: ["if=none,id=a,file=a.img"] });
    const before = formatQtree(m);
    expect(() => m.addDevice("scsi-hd,drive=a,bus=s.0,scsi-id=3,lun=1")).toThrow("bad scsi device lun: 1");
    expect(() => m.addDevice("scsi-hd,drive=a,bus=s.0,scsi-id=8")).toThrow("bad scsi device id: 8");
    expect(formatQtree(m)).toBe(before);
    m.addDevice("scsi-hd,drive=a,bus=s.0,scsi-id=3,id=disk");
    expect(m.findBusDevice("disk")!.address).toBe("s.0 scsi-id 3 lun 0");
  });

  it("hot-plugged drives are reported with their controller's address and their own", () => {
    const m = Machine.create({ devices: ["lsi53c895a,id=s,addr=5"], drives: ["if=none,id=a,file=a.img"] });
    const events: [string, DeviceEvent][] = [];
    m.events.on("device-added", (e) => events.push(["added", e]));
    m.events.on("device-deleted", (e) => events.push(["deleted", e]));
    m.addDevice("scsi-hd,drive=a,bus=s.0,id=d");
    m.removeDevice("d");
    const event = { id: "d", driver: "scsi-hd", bdf: "00:05.0", address: "s.0 scsi-id 0 lun 0" };
    expect(events).toEqual([
      ["added", event],
      ["deleted", event],
    ]);
  });

  it("removing a controller removes its drives, and QEMU's -drive drives go with them", () => {
    const m = Machine.create({ devices: ["virtio-scsi-pci,id=v", "scsi-hd,drive=a,bus=v.0,id=d"], drives: ["if=none,id=a,file=a.img"] });
    const deleted: string[] = [];
    m.events.on("device-deleted", (e) => deleted.push(e.driver));
    m.removeDevice("v");
    expect(deleted).toEqual(["scsi-hd", "virtio-scsi-pci"]);
    expect(m.devices().some((p) => p.info.name === "scsi-hd")).toBe(false);
    expect(m.hostDrive("a")).toBeUndefined();
  });

  it("drives from a host configuration are backends that outlive their device (like QEMU's -blockdev)", () => {
    const m = Machine.create({
      devices: ["lsi53c895a,id=s", "scsi-hd,drive=a,bus=s.0,id=d"],
      host: { drives: [{ id: "a", file: "a.img" }] },
    });
    m.removeDevice("d");
    m.addDevice("scsi-hd,drive=a,bus=s.0,id=again");
    expect(m.findBusDevice("again")!.props.drive).toBe("a");
  });

  it("IDE channels refuse device_add and device_del with QEMU's words", () => {
    const m = Machine.create({ devices: ["ide-cd,id=cd"] });
    const err = (f: () => void): MachbusError => {
      try {
        f();
      } catch (e) {
        return e as MachbusError;
      }
      throw new Error("no error");
    };
    expect(err(() => m.removeDevice("cd"))).toMatchObject({
      code: "not-hotpluggable",
      message: "Bus 'ide.1' does not support hotplugging",
    });
    expect(err(() => m.addDevice("ide-cd,bus=ide.0"))).toMatchObject({ message: "Bus 'ide.0' does not support hotplugging" });
  });
});

describe("drives in machine files", () => {
  for (const s of SCENARIOS) {
    it(`${s.name}: dump, reload, dump again is identical, and the copy has the same tree and config space`, () => {
      const m = machineFor(s);
      const { first, again, copy } = reload(m, s.images);
      expect(again).toBe(first);
      expect(formatQtree(copy)).toBe(formatQtree(m));
      expect(lspciDump(copy, 4)).toBe(lspciDump(m, 4));
    });
  }

  it("a dump records each drive's bus and its full address, also the parts QEMU chose", () => {
    const m = Machine.create({
      drives: ["if=ide,file=x.img,index=1", "if=none,id=d1,file=y.img"],
      devices: ["lsi53c895a,id=s", "scsi-hd,bus=s.0,drive=d1", "ide-cd"],
    });
    const devices = dumpMachineConfig(m).devices!;
    const at = (driver: string) => devices.filter((d) => d.driver === driver).map((d) => ({ bus: d.bus, address: d.address }));
    expect(at("ide-hd")).toEqual([{ bus: "ide.0", address: { unit: 1 } }]);
    expect(at("ide-cd")).toEqual([{ bus: "ide.1", address: { unit: 0 } }]);
    expect(at("scsi-hd")).toEqual([{ bus: "s.0", address: { channel: 0, "scsi-id": 0, lun: 0 } }]);
    // the legacy drive is a plain backend in the dump: its device is in the device list now
    expect(dumpMachineConfig(m).host!.drives).toEqual([
      { id: "ide0-hd1", file: "x.img" },
      { id: "d1", file: "y.img", if: "none" },
    ]);
    // no address property is repeated among the properties
    expect(Object.keys(devices.find((d) => d.driver === "scsi-hd")!.properties!)).not.toContain("scsi-id");
  });

  it("dumpedDevices lists the devices in the dump's order (drives last), so entry i of a dump is device i", () => {
    const m = Machine.create({ drives: ["if=ide,file=x.img"], devices: ["e1000,id=n", "lsi53c895a", "scsi-cd"] });
    const entries = dumpMachineConfig(m).devices!;
    expect(dumpedDevices(m).map((p) => p.info.name)).toEqual(entries.map((e) => e.driver));
    expect(entries.map((e) => e.driver)).toEqual(["e1000", "lsi53c895a", "ide-hd", "scsi-cd"]);
  });

  it("a drive added to a dump without an address never takes one a recorded drive holds", () => {
    const m = Machine.create({ devices: ["lsi53c895a,id=s", "scsi-cd,bus=s.0,scsi-id=1"] });
    const config = dumpMachineConfig(m);
    // the new drive comes first in the file, yet gets target 0: the recorded one keeps target 1
    config.devices!.splice(1, 0, { driver: "scsi-cd", bus: "s.0", id: "added" });
    config.devices!.push({ driver: "scsi-cd", bus: "s.0", address: { "scsi-id": 0 }, id: "recorded" });
    const copy = Machine.create(machineOptionsFromConfig(config, "m.yaml"));
    expect(copy.findBusDevice("recorded")!.address).toBe("s.0 scsi-id 0 lun 0");
    expect(copy.findBusDevice("added")!.address).toBe("s.0 scsi-id 2 lun 0");
  });

  it("migrate-check names a drive the destination lacks by its bus and address", () => {
    const src = dumpMachineConfig(Machine.create({ devices: ["lsi53c895a,id=s", "scsi-cd,bus=s.0,scsi-id=3"] }));
    const dst = { ...src, devices: src.devices!.filter((d) => d.driver !== "scsi-cd") };
    expect(compareMachineConfigs({ config: src, file: "a.yaml" }, { config: dst, file: "b.yaml" })).toEqual([
      "missing on the destination: scsi-cd at s.0 scsi-id 3 lun 0",
    ]);
  });
});

describe("-drive on the seed-era machine types", () => {
  // QEMU 0.12's hw/pc.c (pc_init1), read in its source: no QEMU 0.12 binary is installed to capture from.
  it("if=scsi makes an lsi53c895a per SCSI bus in the first free slots, its drives at their units; if=virtio comes before -device", () => {
    const m = Machine.create({
      machine: "pc-0.10",
      drives: ["if=scsi,file=a.img,index=9", "if=scsi,file=b.img,media=cdrom", "if=virtio,file=c.img"],
      devices: ["e1000"],
    });
    const at = (driver: string): string[] =>
      m
        .devices()
        .filter((p) => p.info.name === driver)
        .map(({ device }) => (device instanceof PciDevice ? device.function.bdf : (device as BusDevice).address));
    expect(at("lsi53c895a")).toEqual(["00:02.0", "00:03.0"]);
    expect(at("virtio-blk-pci")).toEqual(["00:04.0"]);
    expect(at("e1000")).toEqual(["00:05.0"]);
    expect(at("scsi-cd")).toEqual(["scsi.0 scsi-id 0 lun 0"]);
    expect(at("scsi-hd")).toEqual(["scsi.1 scsi-id 2 lun 0"]);
  });

  it("on q35, whose AHCI ports have no buses in machbus yet, an IDE drive is refused rather than lost", () => {
    expect(() => Machine.create({ machine: "q35", drives: ["file=a.img"] })).toThrow("machine type does not support if=ide,bus=0,unit=0");
  });

  it("on QEMU 7.2's types if=scsi makes nothing, and QEMU's error says so", () => {
    let error: MachbusError | undefined;
    try {
      Machine.create({ drives: ["if=scsi,file=a.img"], devices: ["lsi53c895a"] });
    } catch (e) {
      error = e as MachbusError;
    }
    expect(error?.describe()).toBe("-drive if=scsi,file=a.img: machine type does not support if=scsi,bus=0,unit=0");
  });
});

describe("drives and machine state", () => {
  it("a snapshot is the same with and without drives: they keep no state (disk contents are not modelled)", () => {
    const plain = Machine.create({ devices: ["lsi53c895a,id=s"] });
    const withDrives = Machine.create({
      devices: ["lsi53c895a,id=s", "scsi-cd,bus=s.0", "scsi-cd,bus=s.0"],
      drives: ["if=ide,media=cdrom"],
    });
    expect(withDrives.save()).toEqual(plain.save());
    withDrives.load(plain.save());
    expect(formatQtree(withDrives)).toContain("dev: scsi-cd");
  });

  it("the firmware version drives report on each machine type is QEMU 7.2's hw_version for it", () => {
    const { versions } = readJson<{ versions: Record<string, string> }>("hw-versions.json");
    expect(Object.keys(versions).length).toBeGreaterThan(25);
    for (const [machine, version] of Object.entries(versions)) {
      const tree = formatQtree(Machine.create({ machine, devices: ["ide-cd", "lsi53c895a", "scsi-cd"] }));
      expect({ machine, vers: [...tree.matchAll(/ ver = "([^"]*)"/g)].map((x) => x[1]) }).toEqual({ machine, vers: [version, version] });
    }
  });
});
