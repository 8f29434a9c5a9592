import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { machbus } from "./support/cli.js";
import { readText } from "./support/qemu-fixtures.js";

describe("machbus CLI", () => {
  it("info pci matches QEMU's info pci for -M pc -nodefaults, line by line", () => {
    const r = machbus(["info", "pci"]);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual(readText("info-pci/chipset.txt").split("\n"));
  });

  it("info pci --json is QMP query-pci, vendor before device", () => {
    const r = machbus(["info", "pci", "--json"]);
    const buses = JSON.parse(r.stdout) as { bus: number; devices: { id: Record<string, number>; regions: { address: number }[] }[] }[];
    expect(buses[0]!.devices.map((d) => Object.keys(d.id))[0]).toEqual(["vendor", "device", "subsystem-vendor", "subsystem"]);
    expect(buses[0]!.devices[2]!.regions[0]!.address).toBe(-1);
  });

  it("machines lists types with the alias and the default marked; --default prints it", () => {
    const r = machbus(["machines"]);
    expect(r.stdout).toMatch(/^pc {19}Standard PC \(i440FX \+ PIIX, 1996\) \(alias of pc-qemu-7\.2\)$/m);
    expect(r.stdout).toMatch(/^pc-qemu-7\.2 +Standard PC \(i440FX \+ PIIX, 1996\) \(default\)$/m);
    expect(machbus(["machines", "--default"]).stdout).toBe("pc-qemu-7.2\n");
  });

  it("accepts QEMU's spellings: -M, -machine, -device, pc-i440fx-7.2", () => {
    const a = machbus(["info", "pci", "-M", "pc-i440fx-7.2", "-device", "pci-bridge,chassis_nr=1"]);
    const b = machbus(["info", "pci", "-machine", "pc", "--device", "pci-bridge,chassis_nr=1"]);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toContain("Bus  0, device   2, function 0:\n    PCI bridge: PCI device 1b36:0001");
  });

  it("a bad machine lists the valid ones; a bad driver lists the drivers; one line, exit 1, no stack", () => {
    const m = machbus(["info", "pci", "--machine", "nosuch"]);
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(
      /^machbus: unsupported machine type 'nosuch' \(valid: pc-qemu-7\.2, pc-qemu-7\.1, .*pc-qemu-0\.10, pc-q35-7\.2, .*pc-q35-2\.4; aliases: pc, pc-i440fx-7\.2, .*pc-0\.10, q35\)\n$/,
    );
    const d = machbus(["lspci", "--device", "nosuch"]);
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/^machbus: -device nosuch: 'nosuch' is not a valid device model name \(valid: .*pci-bridge.*\)\n$/);
    const o = machbus(["info", "pci", "--bogus"]);
    expect(o.status).toBe(1);
    expect(o.stderr.split("\n")[0]).toBe("error: unknown option '--bogus'");
  });

  it("lspci -xxx is pciutils' dump format: lspci -F decodes all four chipset functions and draws the tree", () => {
    const r = machbus(["lspci", "-xxx"]);
    const dir = mkdtempSync(join(tmpdir(), "machbus-"));
    const file = join(dir, "d.txt");
    writeFileSync(file, r.stdout);
    const decoded = execFileSync("lspci", ["-F", file, "-vv"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(decoded).toContain("00:00.0 Host bridge: Intel Corporation 440FX - 82441FX PMC [Natoma] (rev 02)");
    expect(decoded).toContain("00:01.0 ISA bridge: Intel Corporation 82371SB PIIX3 ISA [Natoma/Triton II]");
    expect(decoded).toContain("00:01.1 IDE interface: Intel Corporation 82371SB PIIX3 IDE [Natoma/Triton II]");
    expect(decoded).toContain("00:01.3 Bridge: Intel Corporation 82371AB/EB/MB PIIX4 ACPI (rev 03)");
    const tree = execFileSync("lspci", ["-F", file, "-t"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(tree).toBe("-[0000:00]-+-00.0\n           +-01.0\n           +-01.1\n           \\-01.3\n");
  });

  it("lspci dumps 64 bytes per function with -x and 256 with -xxx, each line ending in a newline", () => {
    const x = machbus(["lspci", "-x"]).stdout.split("\n\n").filter(Boolean);
    const xxx = machbus(["lspci", "-xxx"]).stdout.split("\n\n").filter(Boolean);
    expect(x.map((f) => f.split("\n").length)).toEqual([5, 5, 5, 5]);
    expect(xxx.map((f) => f.split("\n").length)).toEqual([17, 17, 17, 17]);
    expect(machbus(["lspci", "-x"]).stdout.endsWith("\n\n")).toBe(true);
  });
});
