import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine, isMachbusError } from "../src/index.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { Monitor } from "../src/monitor/monitor.js";
import { FILE_LIMITS, parseMachineConfig } from "../src/state/machine-config.js";
import { machbus } from "./support/cli.js";
import { readText } from "./support/qemu-fixtures.js";

/** QEMU 7.2's texts for these cases: test/fixtures/qemu/hardening/hardening.json (regenerate-hardening.mjs). */
interface HardeningCase {
  args: string[];
  stderr: string;
  monitor?: { line: string; output: string }[];
}
const qemu = (JSON.parse(readText("hardening/hardening.json")) as { cases: Record<string, HardeningCase> }).cases;
/** QEMU's stderr lines without the program name. */
const qemuLines = (name: string): string[] =>
  qemu[name]!.stderr.split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/^qemu-system-x86_64: /, ""));

const dir = mkdtempSync(join(tmpdir(), "machbus-hardening-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A user's mistake: one line on stderr naming it, exit status 1, nothing on stdout. */
function expectOneLineError(args: string[], pattern: RegExp): void {
  const r = machbus(args);
  expect(r.stderr).toMatch(/^machbus: [^\n]*\n$/);
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).toMatch(pattern);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
}

describe("names that are also properties of plain JavaScript objects", () => {
  const cases: [string[], RegExp][] = [
    [["--device", "e1000,toString=1"], /Property 'e1000\.toString' not found/],
    [["--device", "e1000,constructor=1"], /Property 'e1000\.constructor' not found/],
    [["--device", "e1000,__proto__=1"], /Property 'e1000\.__proto__' not found/],
    [["--device", "toString"], /'toString' is not a valid device model name/],
    [["--device", "constructor"], /'constructor' is not a valid device model name/],
    [["-M", "toString"], /unsupported machine type 'toString'/],
    [["-M", "constructor"], /unsupported machine type 'constructor'/],
    [["-M", "pc,toString=1"], /unknown option 'toString'/],
    [["-M", "pc,__proto__=1"], /unknown option '__proto__'/],
    [["--allocator", "qemu,toString=1"], /unknown parameter 'toString'/],
    [["--allocator", "toString"], /toString/],
    [["--device", "e1000", "--global", "e1000.hasOwnProperty=1"], /Property 'e1000\.hasOwnProperty' not found/],
    [["--device", "e1000,romfile=toString"], /failed to find romfile "toString"/],
    [["--device", "ide-hd,drive=toString"], /toString/],
    [["-drive", "if=none,id=__proto__"], /-drive if=none,id=__proto__: Parameter 'id' expects an identifier/],
    [["-netdev", "user,id=__proto__"], /-netdev user,id=__proto__: Parameter 'id' expects an identifier/],
  ];
  for (const [args, pattern] of cases) {
    it(`${args.join(" ")}: a one-line error, exit status 1`, () => expectOneLineError(["info", "pci", ...args], pattern));
  }

  it("report and plot: --by toString names no field of the results", () => {
    const results = file("r.jsonl", '{"run":0,"machine":"pc-qemu-7.2","policy":"qemu","moved":1}\n');
    expectOneLineError(["report", results, "--by", "toString"], /--by toString: no field 'toString'/);
    expectOneLineError(["plot", results, "--x", "constructor", "--y", "moved", "-o", join(dir, "p.svg")], /--x constructor: no field/);
  });

  it("QEMU says the same about e1000.toString", () => {
    expect(qemuLines("device-prototype-name")[0]).toBe("-device e1000,toString=1: Property 'e1000.toString' not found");
    expect(
      machbus(["info", "pci", "-device", "e1000,toString=1"]).stderr.startsWith(`machbus: ${qemuLines("device-prototype-name")[0]}`),
    ).toBe(true);
  });

  for (const key of ["constructor", "toString", "__proto__"]) {
    it(`a machine file's properties: {${key}: 1} is refused in one line`, () => {
      const yaml = file(`p-${key}.yaml`, `machbus: 1\nmachine: {type: pc}\ndevices:\n  - driver: e1000\n    properties: {${key}: 1}\n`);
      expectOneLineError(
        ["info", "pci", "--config", yaml],
        new RegExp(`${key === "__proto__" ? "'__proto__' is not a valid name" : `e1000\\.${key}`}`),
      );
      const json = file(`o-${key}.json`, `{"machbus": 1, "machine": {"type": "pc", "options": {"${key}": 1}}}`);
      expectOneLineError(["info", "pci", "--config", json], new RegExp(key));
    });
  }
});

describe("the monitor goes on after a bad device_add, with QEMU's texts", () => {
  const lines = qemu["monitor-device-add"]!.monitor!;

  it("device_add alone, e1000,toString=1 and toString: QEMU's errors, the session goes on", () => {
    const monitor = new Monitor(Machine.create());
    for (const { line, output } of lines.slice(0, 3)) {
      const r = monitor.execute(line);
      expect(r.failed).toBe(true);
      // machbus may add the valid choices after QEMU's text.
      expect(r.output.startsWith(output.trimEnd())).toBe(true);
    }
    expect(monitor.execute("info pci").output).toBe(formatInfoPci(Machine.create()));
  });

  it("device_add virtio-net-pci,vectors=99999 prints QEMU's warning and adds the device", () => {
    const monitor = new Monitor(Machine.create());
    const r = monitor.execute(lines[3]!.line);
    expect(r).toEqual({ output: lines[3]!.output, quit: false, failed: false });
    expect(monitor.machine.devices().some((d) => d.info.name === "virtio-net-pci")).toBe(true);
  });

  it("machbus monitor: every line answered on stdout, exit status 0; with --fail-on-error 1, naming the first failed line", () => {
    const script = "info pci\ndevice_add\ndevice_add e1000,id=n0\nbogus\ninfo pci\n";
    const plain = machbus(["monitor"], script);
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain("Error: Parameter 'driver' is missing\n");
    expect(plain.stdout).toContain("unknown command: 'bogus'\n");
    const strict = machbus(["monitor", "--fail-on-error"], script);
    expect(strict.stdout).toBe(plain.stdout);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toBe(
      "machbus: monitor: 2 of 5 lines failed; the first, line 2: device_add: Error: Parameter 'driver' is missing\n",
    );
    expect(machbus(["monitor", "--fail-on-error"], "info pci\ndevice_add e1000\n").status).toBe(0);
  });
});

describe("machine files have limits, refused early in one line", () => {
  it("size", () => {
    const big = file("big.yaml", `machbus: 1\nmachine: {type: pc}\n# ${"x".repeat(FILE_LIMITS.size)}\n`);
    expectOneLineError(["info", "pci", "--config", big], /characters is over the limit on size/);
  });

  it("device count", () => {
    const devices = Array.from({ length: FILE_LIMITS.devices + 1 }, () => "{driver: e1000}").join(", ");
    expect(() => parseMachineConfig(`machbus: 1\nmachine: {type: pc}\ndevices: [${devices}]\n`, "m.yaml")).toThrow(
      `m.yaml: ${FILE_LIMITS.devices + 1} devices is over the limit on devices (at most ${FILE_LIMITS.devices} devices)`,
    );
  });

  it("nesting, of flow collections and of blocks", () => {
    const flow = file("flow.json", `{"machbus": 1, "machine": {"type": "pc"}, "x": ${"[".repeat(100000)}${"]".repeat(100000)}}`);
    expectOneLineError(["info", "pci", "--config", flow], /over the limit on nesting \(at most 64 levels\)/);
    let block = "machbus: 1\nmachine: {type: pc}\nx:\n";
    for (let i = 1; i <= 80; i++) block += `${" ".repeat(i)}- \n`;
    expect(() => parseMachineConfig(block, "b.yaml")).toThrow(/^b\.yaml: the nesting at x(\[0\])+ is over the limit on nesting/);
  });

  it("aliases: an alias bomb is a limit of the file, not an internal error", () => {
    let yaml = 'machbus: 1\nmachine: {type: pc}\na0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n';
    for (let i = 1; i < 10; i++)
      yaml += `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(", ")}]\n`;
    expectOneLineError(["info", "pci", "--config", file("bomb.yaml", yaml)], /alias expansion is over the limit on aliases/);
  });

  it("a dump still loads: the limits are far above what machbus writes", () => {
    const r = machbus([
      "dump-config",
      "--device",
      "pci-bridge,id=b,chassis_nr=1",
      ...Array.from({ length: 20 }, () => "--device=e1000,bus=b"),
    ]);
    expect(r.status).toBe(0);
    expect(parseMachineConfig(r.stdout, "dump.yaml").devices).toHaveLength(21);
  });
});

describe("QEMU command lines pasted", () => {
  it("-M help lists the machine types as `machbus machines` does; --version and -version print the version", () => {
    const help = machbus(["info", "pci", "-M", "help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(machbus(["machines"]).stdout);
    for (const v of ["--version", "-version"]) {
      const r = machbus([v]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^machbus \d+\.\d+\.\d+ /);
    }
  });

  it("-machine pc,accel=tcg: built, with a one-line warning; accel=foo refused with QEMU's text", () => {
    const r = machbus(["info", "pci", "-machine", "pc,accel=tcg"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(machbus(["info", "pci"]).stdout);
    expect(r.stderr).toMatch(/^machbus: -machine pc,accel=tcg: warning: accel=tcg ignored: [^\n]+\n$/);
    expectOneLineError(["info", "pci", "-machine", "pc,accel=foo"], /invalid accelerator foo$/m);
  });

  it("-machine type=pc-i440fx-2.0 selects the type, as the leading name does", () => {
    const r = machbus(["dump-config", "-machine", "type=pc-i440fx-2.0"]);
    expect(r.stdout).toContain("type: pc-qemu-2.0\n");
    expect(r.stdout).toBe(machbus(["dump-config", "-machine", "pc-i440fx-2.0"]).stdout);
  });

  it("-nodefaults changes nothing; -vga std places VGA as QEMU does; -vga foo is QEMU's error", () => {
    expect(machbus(["info", "pci", "-nodefaults"]).stdout).toBe(machbus(["info", "pci"]).stdout);
    const vga = qemu["vga-std-info-pci"]!;
    const r = machbus(["info", "pci", ...vga.args]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(vga.monitor![0]!.output);
    expectOneLineError(["info", "pci", "-vga", "foo"], new RegExp(`^machbus: ${qemuLines("vga-unknown")[0]}$`, "m"));
    expectOneLineError(["info", "pci", "-vga", "qxl"], /-vga qxl: machbus has no model/);
  });

  it("-netdev user,id=n0 is a host backend devices can name; without an id, QEMU's error", () => {
    const r = machbus(["dump-config", "-netdev", "user,id=n0", "-device", "e1000,netdev=n0"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/netdevs:\n\s+- id: n0\n\s+type: user\n/);
    expectOneLineError(["info", "pci", "-netdev", "user"], new RegExp(`^machbus: ${qemuLines("netdev-no-id")[0]}$`, "m"));
  });
});

describe("accepted with a warning, or bounded", () => {
  it("virtio-net-pci,vectors=99999: QEMU's warning on stderr, the device without MSI-X", () => {
    const r = machbus(["info", "pci", "-device", "virtio-net-pci,vectors=99999"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`machbus: ${qemuLines("virtio-vectors-99999")[0]}\n`);
    const m = Machine.create({ devices: ["virtio-net-pci,vectors=99999"] });
    expect(m.warnings).toEqual([qemuLines("virtio-vectors-99999")[0]]);
  });

  it("isa-debugcon,iobase=0xcf8 warns that it hides the PCI configuration address port", () => {
    const r = machbus(["info", "pci", "-device", "isa-debugcon,iobase=0xcf8"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      "machbus: -device isa-debugcon,iobase=0xcf8: warning: I/O port 0xcf8 overlaps pci-conf-idx at 0xcf8-0xcfb, which it now hides\n",
    );
    expect(machbus(["info", "pci", "-device", "isa-debugcon,iobase=0x402"]).stderr).toBe("");
  });

  it("a 100,000-character driver name gives an error of bounded size", () => {
    const r = machbus(["info", "pci", "--device", "a".repeat(100_000)]);
    expect(r.status).toBe(1);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(r.stderr).toContain("... (100000 characters)");
    try {
      Machine.create({ devices: ["b".repeat(100_000)] });
      expect.unreachable();
    } catch (e) {
      expect(isMachbusError(e) && e.describe().length < 2000).toBe(true);
    }
  });

  it("machbus boot ... | head: the closed pipe ends the run quietly", () => {
    const r = spawnSync(
      "bash",
      ["-c", "set -o pipefail; node bin/machbus.js boot --firmware /usr/share/seabios/bios.bin --timeout 20 | head -1"],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.stdout).toMatch(/^SeaBIOS \(version/);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("found by the fuzzer (fuzz/), fixed in the engine", () => {
  it("a RAM size of no whole KiB dumps as a number of bytes, so the dump reloads the same size (not MiB)", async () => {
    const { dumpMachineConfig, formatMachineConfig, machineOptionsFromConfig } = await import("../src/state/machine-config.js");
    const m = Machine.create({ memory: 31 });
    const dump = formatMachineConfig(dumpMachineConfig(m));
    expect(dump).toContain("memory: 31\n");
    const again = Machine.create(machineOptionsFromConfig(parseMachineConfig(dump, "d.yaml"), "d.yaml"));
    expect(again.ramSize).toBe(31);
    expect(formatMachineConfig(dumpMachineConfig(again))).toBe(dump);
  });
});
