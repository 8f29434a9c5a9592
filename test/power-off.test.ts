import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { machbus } from "./support/cli.js";

const SLP_EN = 1 << 13;
const slpTyp = (type: number): number => type << 10;

/** The guest's view: PM1 control at PMBASE + 4 once the board's ACPI block decodes at `pmBase`. */
function machineWithPmBlock(type: "pc" | "q35", pmBase: number) {
  const m = Machine.create({ machine: type });
  const requests: { source: string; sleepType: number }[] = [];
  m.events.on("shutdown-request", (e) => requests.push(e));
  if (type === "pc") {
    m.configWrite(0, 0x0b, 0x40, 4, pmBase | 1); // PIIX4 PM: PMBASE, then PMREGMISC enables it
    m.configWrite(0, 0x0b, 0x80, 1, 1);
  } else {
    const lpc = (0x1f << 3) | 0;
    m.configWrite(0, lpc, 0x40, 4, pmBase | 1); // ICH9 LPC: PMBASE, then ACPI_CTRL enables it
    m.configWrite(0, lpc, 0x44, 1, 0x80);
  }
  return { m, requests, control: pmBase + 4 };
}

describe("ACPI power-off (PM1 control SLP_EN)", () => {
  for (const type of ["pc", "q35"] as const) {
    it(`${type}: soft off and S4 ask the embedder to end the machine, S3 does not; SLP_EN reads back clear`, () => {
      const { m, requests, control } = machineWithPmBlock(type, 0x600);
      const source = type === "pc" ? "PIIX4_PM" : "ICH9-LPC";
      m.ioWrite(control, 2, slpTyp(1) | SLP_EN | 1); // S3: suspend is not modelled
      expect(requests).toEqual([]);
      expect(m.ioRead(control, 2)).toBe(slpTyp(1) | 1);
      m.ioWrite(control, 2, slpTyp(0)); // SLP_TYP alone requests nothing
      expect(requests).toEqual([]);
      m.ioWrite(control, 2, slpTyp(0) | SLP_EN); // \_S5 of QEMU's DSDT
      m.ioWrite(control, 2, slpTyp(2) | SLP_EN); // s4_val's default
      expect(requests).toEqual([
        { source, sleepType: 0 },
        { source, sleepType: 2 },
      ]);
      expect(m.ioRead(control, 2)).toBe(slpTyp(2));
    });
  }

  it("pc: the S4 sleep type follows PIIX4_PM's s4_val, as in QEMU", () => {
    const m = Machine.create({ globals: ["PIIX4_PM.s4_val=5"] });
    const requests: number[] = [];
    m.events.on("shutdown-request", (e) => requests.push(e.sleepType));
    m.configWrite(0, 0x0b, 0x40, 4, 0xb001);
    m.configWrite(0, 0x0b, 0x80, 1, 1);
    m.ioWrite(0xb004, 2, slpTyp(2) | SLP_EN);
    m.ioWrite(0xb004, 2, slpTyp(5) | SLP_EN);
    expect(requests).toEqual([5]);
  });
});

/**
 * A 64 KiB BIOS image for v86: from the reset vector it prints "off\n" on the debug console
 * (0x402), programs PIIX4 PM's PMBASE to 0xb000 through 0xCF8/0xCFC, enables it, and writes soft
 * off with SLP_EN to PM1 control, as a guest's ACPI power-off does; then it halts.
 */
function powerOffFirmware(): Uint8Array {
  const image = new Uint8Array(0x10000);
  // prettier-ignore
  const code = [
    0xba, 0x02, 0x04, // mov dx, 0x402
    0xb0, 0x6f, 0xee, 0xb0, 0x66, 0xee, 0xee, 0xb0, 0x0a, 0xee, // out "o", "f", "f", "\n"
    0x66, 0xb8, 0x40, 0x0b, 0x00, 0x80, 0xba, 0xf8, 0x0c, 0x66, 0xef, // 0xcf8 <- 0x80000b40 (00:01.3 PMBASE)
    0x66, 0xb8, 0x01, 0xb0, 0x00, 0x00, 0xba, 0xfc, 0x0c, 0x66, 0xef, // 0xcfc <- 0xb001
    0x66, 0xb8, 0x80, 0x0b, 0x00, 0x80, 0xba, 0xf8, 0x0c, 0x66, 0xef, // 0xcf8 <- 0x80000b80 (PMREGMISC)
    0xb0, 0x01, 0xba, 0xfc, 0x0c, 0xee, // 0xcfc <- 1 (byte)
    0xba, 0x04, 0xb0, 0xb8, 0x00, 0x20, 0xef, // 0xb004 <- SLP_EN | SLP_TYP 0
    0xf4, 0xeb, 0xfd, // hlt; jmp to the hlt
  ];
  image.set(code, 0);
  image.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0); // reset vector: jmp far f000:0000
  return image;
}

describe("machbus boot ends when the guest powers off", () => {
  const dir = mkdtempSync(join(tmpdir(), "machbus-power-off-"));
  const firmware = join(dir, "power-off.bin");
  writeFileSync(firmware, powerOffFirmware());

  it("without --until: exit 0, what the guest printed, then info pci", () => {
    const r = machbus(["boot", "--firmware", firmware, "--timeout", "50"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("off\n")).toBe(true);
    expect(r.stdout).toContain("Bus  0, device   1, function 3:");
  });

  it("with a marker the guest never printed: one line saying it powered off first, exit 1", () => {
    const r = machbus(["boot", "--firmware", firmware, "--until", "never printed", "--timeout", "50"]);
    expect(r.stdout).toBe("off\n");
    expect(r.stderr).toBe('machbus: boot: the firmware did not print "never printed" before the guest powered off\n');
    expect(r.status).toBe(1);
  });
});
