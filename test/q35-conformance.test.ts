import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { builtinDrivers } from "../src/index.js";
import { parseDeviceSpec } from "../src/machine/device-spec.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import {
  Q35_FIXTURES,
  expectSameConfig,
  loadQ35Fixture,
  machineFor,
  q35FixtureNames,
  readQ35Text,
  replayConfigProtocol,
  replayEcamProtocol,
  runSetup,
} from "./support/qemu-fixtures.js";

/**
 * Every q35 scenario captured from QEMU 7.2 (test/fixtures/qemu/q35/config/*.json) whose devices
 * machbus has: the same command line must show QEMU's `info pci`, and the same config space
 * through mechanism #1 (256 bytes) and through ECAM (4 KiB), at reset and after writing all
 * ones to each dword, each protocol on a fresh machine as the fixture script ran it.
 */
const names = q35FixtureNames();
const replayable = (name: string): boolean =>
  loadQ35Fixture(name).devices.every((spec) => builtinDrivers.has(parseDeviceSpec(spec).driver));

describe("q35 fixtures and the device catalogue", () => {
  it("every captured scenario's devices exist, so every fixture is replayed below", () => {
    const missing = names
      .flatMap((n) => loadQ35Fixture(n).devices.map((d) => parseDeviceSpec(d).driver))
      .filter((d) => !builtinDrivers.has(d));
    expect(missing).toEqual([]);
    expect(names.filter(replayable).length).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(56);
  });
});

for (const name of names.filter(replayable)) {
  describe(`QEMU 7.2 q35 scenario ${name}`, () => {
    const fixture = loadQ35Fixture(name);

    it("info pci on the fresh machine matches QEMU's line by line", () => {
      expect(formatInfoPci(machineFor(fixture)).split("\n")).toEqual(readQ35Text(`info-pci/${name}.txt`).split("\n"));
    });

    if (existsSync(`${Q35_FIXTURES}info-pci/${name}.after-setup.txt`)) {
      it("info pci after the setup cycles matches QEMU's", () => {
        const m = machineFor(fixture);
        runSetup(m, fixture.setup);
        expect(formatInfoPci(m).split("\n")).toEqual(readQ35Text(`info-pci/${name}.after-setup.txt`).split("\n"));
      });
    }

    it("mechanism #1: 256 bytes of every function after reset and after writing all ones equal QEMU's, dword by dword", () => {
      expectSameConfig(replayConfigProtocol(machineFor(fixture), fixture), fixture);
    });

    if (fixture.ecam) {
      const ecam = fixture.ecam;
      it("ECAM: 4 KiB of every function after reset and after writing all ones equal QEMU's, dword by dword", () => {
        expectSameConfig(replayEcamProtocol(machineFor(fixture), ecam), ecam);
      });
    }
  });
}
