import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, type MachineOptions } from "../src/index.js";
import { fwCfgDirectory, fwCfgFile } from "./support/fw-cfg.js";

/**
 * machbus serves the ACPI tables QEMU 7.2 builds for pc through the same three fw_cfg files
 * (test/fixtures/acpi, regenerate.mjs): the loader script, the tables blob and the RSDP, equal
 * byte for byte to QEMU's as SeaBIOS reads them. The blob's pointers hold offsets that the
 * loader turns into addresses where SeaBIOS places it, so the files are the same whatever
 * memory the firmware allocates. As on QEMU, the tables are built when the firmware first
 * reads them, after it has set PIIX4's PM base (SeaBIOS: 0x600).
 */
const FIXTURES = new URL("./fixtures/acpi/", import.meta.url);
const FILES = ["etc/table-loader", "etc/acpi/tables", "etc/acpi/rsdp"] as const;
const PIIX4_PM = 0x0b;

interface AcpiFixture {
  args: string[];
  files: Record<(typeof FILES)[number], { size: number; used: number; hex: string } | null>;
}

/** The machbus options for each captured QEMU command line (regenerate.mjs's CASES). */
const CASES: Record<string, MachineOptions> = {
  chipset: {},
  "chipset-serial": { serial: true },
  "e1000-virtio-net": { serial: true, devices: ["e1000", "virtio-net-pci"] },
  bridge: { serial: true, devices: ["pci-bridge,id=br1,chassis_nr=1", "e1000,bus=br1,addr=3", "rtl8139,bus=br1,addr=5"] },
  bridges: {
    devices: [
      "pci-bridge,id=br1,chassis_nr=1,addr=3",
      "pci-bridge,id=br2,chassis_nr=2,addr=4",
      "pci-bridge,id=br3,chassis_nr=3,bus=br1,addr=2",
      "e1000,bus=br1,addr=3",
      "rtl8139,bus=br2,addr=5",
      "e1000,bus=br3,addr=1",
    ],
  },
  slots: { devices: ["e1000,addr=5", "rtl8139,addr=0x1f", "virtio-net-pci,addr=3"] },
  "pc-4g": { memory: "4G" },
  "pc-i440fx-7.1": { machine: "pc-i440fx-7.1" },
  "pc-i440fx-6.0": { machine: "pc-i440fx-6.0" },
  "pc-i440fx-5.2": { machine: "pc-i440fx-5.2" },
};

/** What SeaBIOS does to PIIX4 PM before it reads the tables: PM base 0x600, decoding on. */
function firmwarePmSetup(m: Machine): void {
  m.configWrite(0, PIIX4_PM, 0x40, 4, 0x601);
  m.configWrite(0, PIIX4_PM, 0x80, 1, 0x01);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

describe("ACPI tables equal QEMU 7.2's for pc (test/fixtures/acpi)", () => {
  for (const [name, options] of Object.entries(CASES)) {
    it(`${name}: the loader, tables and RSDP files are QEMU's byte for byte`, () => {
      const fixture = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as AcpiFixture;
      const m = Machine.create({ memory: "128M", ...options });
      firmwarePmSetup(m);
      const dir = fwCfgDirectory(m);
      for (const file of FILES) {
        const theirs = fixture.files[file]!;
        expect(dir.find((f) => f.name === file)?.size, `${file} size in the directory`).toBe(theirs.size);
        const ours = fwCfgFile(m, file)!;
        expect(ours.length, file).toBe(theirs.size);
        expect(hex(ours.subarray(0, theirs.used)), file).toBe(theirs.hex);
        expect(
          ours.subarray(theirs.used).every((b) => b === 0),
          `${file} is zero after byte ${theirs.used}`,
        ).toBe(true);
      }
    });
  }
});
