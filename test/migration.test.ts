import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError } from "../src/index.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { dumpMachineConfig, formatMachineConfig, parseMachineConfig } from "../src/state/machine-config.js";
import { compareMachineConfigs, migrationStream, receiveMigration } from "../src/state/migration.js";
import { machbus } from "./support/cli.js";
import { BarTestDevice } from "./support/test-devices.js";

const yaml = (text: string) => parseMachineConfig(text, "inline.yaml");

const SRC = `machbus: 1
machine: { type: pc-qemu-7.2 }
devices:
  - { driver: pci-bridge, id: br1, addr: "03.0", properties: { chassis_nr: 1 } }
  - { driver: pci-bridge, id: br2, addr: "04.0", properties: { chassis_nr: 2 } }
  - { driver: pci-bridge, id: br3, addr: "05.0", properties: { chassis_nr: 3 } }
  - { driver: pci-bridge, id: br4, addr: "06.0", properties: { chassis_nr: 4 } }
`;

describe("migration check", () => {
  it("reports every kind of difference in one run", () => {
    const dst = `machbus: 1
machine: { type: pc-qemu-9.9 }
devices:
  - { driver: pci-bridge, id: br1, addr: "07.0", properties: { chassis_nr: 1 } }
  - { driver: pci-bridge, id: br2, addr: "04.0", properties: { chassis_nr: 9 } }
  - { driver: pci-bridge, id: br3, addr: "05.0", properties: { chassis_nr: 3, msi: "off" } }
`;
    const diffs = compareMachineConfigs({ config: yaml(SRC), file: "src.yaml" }, { config: yaml(dst), file: "dst.yaml" });
    expect(diffs).toEqual([
      "machine type: pc-qemu-9.9 (destination) is unknown; the source runs pc-qemu-7.2",
      "pci-bridge,id=br1 at pci.0:03.0: at pci.0:03.0 on the source, pci.0:07.0 on the destination",
      "pci-bridge,id=br2 at pci.0:04.0: chassis_nr = 2 on the source, 9 on the destination",
      "pci-bridge,id=br3 at pci.0:05.0: msi = auto on the source, off on the destination",
      "pci-bridge,id=br3 at pci.0:05.0: capabilities MSI@0x4c slot id@0x48 SHPC@0x40 on the source, slot id@0x48 SHPC@0x40 on the destination",
      "missing on the destination: pci-bridge,id=br4 at pci.0:06.0",
    ]);
  });

  it("configs that differ only in host paths are ok", () => {
    const host = (path: string) => `${SRC}host:\n  drives:\n    - { id: d0, file: ${path} }\n`;
    expect(compareMachineConfigs({ config: yaml(host("/a.img")), file: "a" }, { config: yaml(host("/b/c.qcow2")), file: "b" })).toEqual([]);
  });

  it("an older machine type is a difference even with the same devices", () => {
    const old = SRC.replace("pc-qemu-7.2", "pc-qemu-1.4");
    expect(compareMachineConfigs({ config: yaml(SRC), file: "a" }, { config: yaml(old), file: "b" })).toEqual([
      "machine type: pc-qemu-7.2 on the source, pc-qemu-1.4 on the destination",
    ]);
  });

  it("machbus migrate-check prints ok and exits 0, or the list and exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "machbus-mig-"));
    const src = join(dir, "src.yaml");
    const same = join(dir, "same.yaml");
    const other = join(dir, "other.yaml");
    writeFileSync(src, `${SRC}host:\n  drives:\n    - { id: d0, file: /x.img }\n`);
    writeFileSync(same, `${SRC}host:\n  drives:\n    - { id: d0, file: /elsewhere/y.img }\n`);
    writeFileSync(other, SRC.replace("chassis_nr: 4", "chassis_nr: 5"));
    const ok = machbus(["migrate-check", src, same]);
    expect([ok.status, ok.stdout]).toEqual([0, "ok\n"]);
    const bad = machbus(["migrate-check", src, other]);
    expect([bad.status, bad.stdout]).toEqual([1, "pci-bridge,id=br4 at pci.0:06.0: chassis_nr = 4 on the source, 5 on the destination\n"]);
  });
});

describe("migration stream", () => {
  function source(): Machine {
    const m = Machine.create({ devices: ["pci-bridge,id=br1,chassis_nr=1,addr=3"], drives: ["if=none,id=d0,file=/src.img"] });
    m.configWrite(0, 3 << 3, 0x18, 4, 0x00020200);
    return m;
  }

  it("the destination builds the machine from the description with its own host config and loads the state", () => {
    const src = source();
    const dst = receiveMigration(migrationStream(src), { host: { drives: [{ id: "d0", file: "/dst/other.img" }] } });
    expect(lspciDump(dst, 4)).toBe(lspciDump(src, 4));
    expect(dst.hostConfig.drives).toEqual([{ id: "d0", file: "/dst/other.img" }]);
  });

  it("refuses with every difference from what the destination is prepared to run", () => {
    const expect2 = yaml(
      "machbus: 1\nmachine: { type: pc-qemu-7.2 }\ndevices:\n  - { driver: pci-bridge, id: br1, addr: '04.0', properties: { chassis_nr: 1 } }\n",
    );
    let err: MachbusError | undefined;
    try {
      receiveMigration(migrationStream(source()), { expect: expect2 });
    } catch (e) {
      err = e as MachbusError;
    }
    expect(err?.code).toBe("migration-refused");
    expect(err?.message).toBe(
      "can't comply with the source machine:\n  pci-bridge,id=br1 at pci.0:03.0: at pci.0:03.0 on the source, pci.0:04.0 on the destination",
    );
  });

  it("the description is the dump: the same config the source would write", () => {
    const src = source();
    const stream = migrationStream(src);
    const text = new TextDecoder().decode(stream);
    expect(text).toContain(JSON.stringify(dumpMachineConfig(src, { withHost: false })));
    expect(formatMachineConfig(dumpMachineConfig(src, { withHost: false }))).not.toContain("/src.img");
  });

  it("a machine with a device model of the user's own migrates to a destination given the same catalogue, and only there", () => {
    const src = Machine.create({ devices: ["test-bars,id=t,addr=5"], drivers: [BarTestDevice] });
    src.configWrite(0, 5 << 3, 0x10, 4, 0xc001);
    const stream = migrationStream(src);
    const dst = receiveMigration(stream, { drivers: [BarTestDevice], expect: dumpMachineConfig(src) });
    expect(lspciDump(dst, 4)).toBe(lspciDump(src, 4));
    expect(() => receiveMigration(stream)).toThrow(
      "can't comply with the source machine: migration stream: devices[0] (test-bars,id=t): 'test-bars' is not a valid device model name",
    );
  });
});
