import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import {
  QEMU_FIXTURES,
  configFixtureNames,
  expectSameConfig,
  loadConfigFixture,
  machineFor,
  readText,
  replayConfigProtocol,
  runSetup,
} from "./support/qemu-fixtures.js";

/**
 * Every scenario captured from QEMU 7.2 (test/fixtures/qemu/config/*.json): the same command line
 * on machbus must show the same functions, the same 256 bytes after reset, the same read-back
 * after writing all ones to each dword, and the same `info pci`.
 */
for (const name of configFixtureNames()) {
  describe(`QEMU 7.2 scenario ${name}`, () => {
    const fixture = loadConfigFixture(name);

    it("info pci on the fresh machine matches QEMU's line by line", () => {
      const expected = readText(`info-pci/${name}.txt`);
      expect(formatInfoPci(machineFor(fixture)).split("\n")).toEqual(expected.split("\n"));
    });

    if (existsSync(`${QEMU_FIXTURES}info-pci/${name}.after-setup.txt`)) {
      it("info pci after the setup cycles matches QEMU's", () => {
        const m = machineFor(fixture);
        runSetup(m, fixture.setup);
        expect(formatInfoPci(m).split("\n")).toEqual(readText(`info-pci/${name}.after-setup.txt`).split("\n"));
      });
    }

    it("config space after reset and after writing all ones equals QEMU's, dword by dword", () => {
      expectSameConfig(replayConfigProtocol(machineFor(fixture), fixture), fixture);
    });
  });
}
