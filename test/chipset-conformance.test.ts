import { describe, expect, it } from "vitest";
import { loadConfigFixture, machineFor, replayConfigProtocol } from "./support/qemu-fixtures.js";

describe("pc chipset against QEMU 7.2 (-M pc -nodefaults)", () => {
  const fixture = loadConfigFixture("chipset");
  const replay = replayConfigProtocol(machineFor(fixture), fixture);

  it("has the same four functions present on bus 0", () => {
    expect(replay.present).toEqual(fixture.present);
  });

  it("reads all ones from absent functions and buses no bridge claims", () => {
    expect(replay.absentSample).toEqual(fixture.absentSample);
  });

  for (const expected of fixture.functions) {
    it(`${expected.bdf}: all 64 dwords after reset equal QEMU's`, () => {
      const got = replay.functions.find((f) => f.bdf === expected.bdf)!;
      expect(got.reset).toEqual(expected.reset);
    });
    it(`${expected.bdf}: every dword reads back QEMU's value after writing 0xffffffff`, () => {
      const got = replay.functions.find((f) => f.bdf === expected.bdf)!;
      expect(got.writeOnes).toEqual(expected.writeOnes);
    });
  }
});
