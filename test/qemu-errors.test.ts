import { describe, expect, it } from "vitest";
import { machbus } from "./support/cli.js";
import { readText } from "./support/qemu-fixtures.js";

interface ErrorCase {
  name: string;
  args: string[];
  exitCode: number | null;
  stderr: string;
  accepted: boolean;
  infoPci?: string;
  /** The signal that ended QEMU when it crashed instead of answering. */
  signal?: string;
}

/** QEMU 7.2's own stderr and exit code for bad (and borderline) command lines: test/fixtures/qemu/errors.json. */
const cases = (JSON.parse(readText("errors.json")) as { cases: ErrorCase[] }).cases.filter((c) => c.name !== "machine-help");

/**
 * The machine options of a QEMU command line, as machbus takes them (QEMU's spellings work as
 * they are). The images the -drive options name need not exist here: machbus reads no disk,
 * and the drive errors QEMU gives do not depend on the images' sizes.
 */
function machineArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (["-M", "-device", "-drive"].includes(args[i]!)) out.push(args[i]!, args[++i]!);
  }
  return out;
}

describe("QEMU's errors, reproduced by the CLI", () => {
  for (const c of cases) {
    if (c.accepted) {
      it(`${c.name}: accepted, as QEMU accepts it, with the same info pci`, () => {
        const r = machbus(["info", "pci", ...machineArgs(c.args)]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toBe(c.infoPci);
      });
      continue;
    }
    it(`${c.name}: refused with QEMU's text, exit status 1`, () => {
      const r = machbus(["info", "pci", ...machineArgs(c.args)]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe(""); // nothing was built, nothing printed
      const qemu = c.stderr.split("\n")[0]!.replace(/^qemu-system-x86_64: /, "");
      if (c.signal) {
        // QEMU 7.2 crashes (virtio_add_queue aborts on virtqueue_size > 1024); machbus refuses the value.
        expect(r.stderr).toMatch(/^machbus: -device [^:]+: invalid virtqueue_size property \(= \d+\), must be at most 1024\n$/);
        return;
      }
      if (c.name === "machine-nosuch") {
        // QEMU says "unsupported machine type"; machbus names the type and lists the valid ones.
        expect(r.stderr).toMatch(/^machbus: unsupported machine type 'nosuch' \(valid: pc-qemu-7\.2, /);
        return;
      }
      // machbus prints QEMU's "-device SPEC: message" after its own name, and may add the valid choices.
      expect(r.stderr.startsWith(`machbus: ${qemu}`)).toBe(true);
      expect(r.stderr.split("\n").length).toBe(2);
    });
  }
});

describe("the seed-era machine types", () => {
  const caps = (bdf: string, lines: string) => lines.split("\n\n").find((f) => f.startsWith(bdf)) ?? "";

  it("pc-qemu-0.10: neither virtio-net nor virtio-blk has MSI-X, and virtio-blk is class 0x0180", () => {
    const r = machbus([
      "lspci",
      "-xxx",
      "-M",
      "pc-qemu-0.10",
      "--device",
      "virtio-net-pci",
      "--device",
      "virtio-blk-pci,drive=d0",
      "--drive",
      "if=none,id=d0,file=/dev/null",
    ]);
    expect(r.status).toBe(0);
    expect(caps("00:02.0", r.stdout)).toMatch(/^00:02\.0 Ethernet controller \[0200\]: Device \[1af4:1000\]/);
    expect(caps("00:03.0", r.stdout)).toMatch(/^00:03\.0 Storage controller \[0180\]: Device \[1af4:1001\]/);
    // status register bit 4 clear: no capability list at all
    for (const bdf of ["00:02.0", "00:03.0"]) expect(caps(bdf, r.stdout).split("\n")[1]!.slice(22, 24)).toBe("00");
  });

  it("pc-qemu-0.11: virtio-net has MSI-X, virtio-blk does not", () => {
    const r = machbus([
      "lspci",
      "-xxx",
      "-M",
      "pc-0.11",
      "--device",
      "virtio-net-pci",
      "--device",
      "virtio-blk-pci,drive=d0",
      "--drive",
      "if=none,id=d0,file=/dev/null",
    ]);
    expect(r.status).toBe(0);
    /** The capability ids of a dumped function, walking its list from 0x34. */
    const capIds = (bdf: string): number[] => {
      const bytes = caps(bdf, r.stdout)
        .split("\n")
        .slice(1)
        .flatMap((l) =>
          l
            .slice(4)
            .split(" ")
            .map((h) => parseInt(h, 16)),
        );
      const ids: number[] = [];
      if (!(bytes[6]! & 0x10)) return ids;
      for (let at = bytes[0x34]!; at >= 0x40 && ids.length < 48; at = bytes[at + 1]!) ids.push(bytes[at]!);
      return ids;
    };
    expect(capIds("00:02.0")).toEqual([0x11]);
    expect(capIds("00:03.0")).toEqual([]);
    expect(caps("00:03.0", r.stdout)).toMatch(/^00:03\.0 SCSI controller \[0100\]/);
  });
});
