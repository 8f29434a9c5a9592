import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { Monitor } from "../src/monitor/monitor.js";
import { machbus } from "./support/cli.js";
import { QEMU_FIXTURES, readText } from "./support/qemu-fixtures.js";

/** QEMU 7.2's `-device help` headings, in its order (qemu-system-x86_64 -device help). */
const QEMU_HEADINGS = [
  "Controller/Bridge/Hub devices:",
  "USB devices:",
  "Storage devices:",
  "Network devices:",
  "Input devices:",
  "Display devices:",
  "Sound devices:",
  "Misc devices:",
];

/**
 * Where machbus's device models (devices/*.ts) still differ from QEMU 7.2's property lists, by
 * driver and property. Each entry must still be a difference, so the list shrinks as they catch up.
 */
const KNOWN_DIFFERENCES: Record<string, Record<string, string>> = {
  "pci-bridge": {
    "bus-reserve": "not modelled yet (QEMU's firmware reservation hints)",
    "io-reserve": "not modelled yet; its default, 2^64-1, needs more than a JS number",
    "mem-reserve": "not modelled yet",
    "pref32-reserve": "not modelled yet",
    "pref64-reserve": "not modelled yet",
  },
  "virtio-blk-pci": {
    "drive-size": "machbus only: QEMU reads the size from the image",
  },
};

interface PropertyFacts {
  name: string;
  type: string;
  default: string | null;
}

/** Name, type and default of a `  name=<type>    - description (default: JSON)` line; the description is free text. */
function propertyFacts(line: string): PropertyFacts {
  const m = /^ {2}([^=]+)=<(.+?)>(?: +- (.*))?$/.exec(line);
  if (!m) throw new Error(`not a property line: '${line}'`);
  const dflt = /(?:^| )\(default: ([^ ()]+)\)$/.exec(m[3] ?? "");
  return { name: m[1]!, type: m[2]!, default: dflt ? dflt[1]! : null };
}

function propertyList(help: string): PropertyFacts[] {
  return help.trimEnd().split("\n").slice(1).map(propertyFacts);
}

describe("-device help", () => {
  it("lists the user-creatable models under QEMU's headings, in QEMU's line format, and exits 0", () => {
    const r = machbus(["info", "pci", "--device", "help"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const sections = r.stdout.split("\n\n");
    const headings = sections.map((s) => s.split("\n")[0]!);
    expect(headings).toEqual(QEMU_HEADINGS);
    const lines = sections.flatMap((s) => s.trimEnd().split("\n").slice(1));
    for (const line of lines) expect(line).toMatch(/^name "[^"]+", bus (PCI|ISA|IDE|SCSI)(, desc "[^"]+")?$/);
    const listed = lines.map((l) => /^name "([^"]+)"/.exec(l)![1]!);
    expect(listed.sort()).toEqual(Machine.create().drivers.names());
    // Exactly QEMU's lines for these two; for e1000 QEMU also prints `alias "e1000-82540em"` (machbus has no aliases).
    expect(r.stdout).toContain('name "pci-bridge", bus PCI, desc "Standard PCI Bridge"\n');
    expect(r.stdout).toContain('name "intel-hda", bus PCI, desc "Intel HD Audio Controller (ich6)"\n');
    expect(r.stdout).toContain('Network devices:\nname "e1000", bus PCI, desc "Intel Gigabit Ethernet"\n');
    expect(r.stdout).toContain('name "isa-debugcon", bus ISA');
    // Sorted as QEMU's strcasecmp sorts them.
    expect(r.stdout).toContain('Display devices:\nname "cirrus-vga", bus PCI, desc "Cirrus CLGD 54xx VGA"\nname "VGA", bus PCI');
    expect(r.stdout.endsWith("\n")).toBe(true);
    expect(r.stdout.endsWith("\n\n")).toBe(false);
  });

  it("leaves out the board's chips, as QEMU leaves out devices that are not user-creatable", () => {
    const out = new Monitor(Machine.create()).execute("device_add help").output;
    for (const chip of ["i440FX", "PIIX3", "piix3-ide", "PIIX4_PM", "fw_cfg_io"]) expect(out).not.toContain(`"${chip}"`);
  });

  it("is answered before anything is built, with QEMU's spellings, whatever else the command line holds", () => {
    const plain = machbus(["info", "pci", "--device", "help"]).stdout;
    for (const args of [
      ["lspci", "-device", "help"],
      ["slots", "-M", "nosuch", "--device", "e1000", "--device", "help"],
      ["monitor", "--device", "?"],
      ["dump-config", "--device", "driver=help", "--device", "e1000,help"],
    ]) {
      const r = machbus(args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: "" });
      expect(r.stdout).toBe(plain);
    }
  });
});

describe("-device DRIVER,help", () => {
  it("prints the driver's properties with QEMU's names, types and defaults, for every driver QEMU's help was captured for", () => {
    const monitor = new Monitor(Machine.create());
    const files = readdirSync(`${QEMU_FIXTURES}device-help`).filter((f) => f.endsWith(".txt"));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const driver = file.slice(0, -".txt".length);
      const qemuText = readText(`device-help/${file}`);
      const ours = monitor.execute(`device_add ${driver},help`).output;
      expect(ours.split("\n")[0]).toBe(qemuText.split("\n")[0]);
      const known = KNOWN_DIFFERENCES[driver] ?? {};
      const comparable = (list: PropertyFacts[]): PropertyFacts[] => list.filter((p) => !(p.name in known));
      expect({ driver, properties: comparable(propertyList(ours)) }).toEqual({ driver, properties: comparable(propertyList(qemuText)) });
      for (const name of Object.keys(known)) {
        const pick = (list: PropertyFacts[]): PropertyFacts | undefined => list.find((p) => p.name === name);
        expect(pick(propertyList(ours)), `${driver}.${name} now matches QEMU: drop it from KNOWN_DIFFERENCES`).not.toEqual(
          pick(propertyList(qemuText)),
        );
      }
    }
  });

  it("through the CLI prints the same text, QEMU's first line and column-24 layout, and exits 0", () => {
    const r = machbus(["info", "pci", "-device", "e1000,help"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(new Monitor(Machine.create()).execute("device_add e1000,help").output);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("e1000 options:");
    expect(lines).toContain("  bootindex=<int32>      - boot order for firmware (no effect on the guest view)");
    expect(lines.find((l) => l.startsWith("  rombar="))).toMatch(/^ {2}rombar=<uint32> {8}- .* \(default: 1\)$/);
    expect(lines.find((l) => l.startsWith("  mac="))).toMatch(/^ {2}mac=<str> {14}- [^(]*$/);
    // Settings only older QEMUs had are not listed.
    expect(r.stdout).not.toContain("command_serr_enable");
  });

  it("shows enum defaults as QEMU's JSON and enum types by their QAPI names", () => {
    const out = new Monitor(Machine.create()).execute("device_add virtio-blk-pci,help").output;
    expect(propertyList(out).find((p) => p.name === "disable-legacy")).toEqual({
      name: "disable-legacy",
      type: "OnOffAuto",
      default: '"auto"',
    });
    expect(propertyList(out).find((p) => p.name === "werror")).toEqual({ name: "werror", type: "BlockdevOnError", default: '"auto"' });
    expect(propertyList(out).find((p) => p.name === "drive")).toEqual({ name: "drive", type: "str", default: null });
  });

  it("answers only the first help request; other devices are not built, and it exits 0", () => {
    const r = machbus(["info", "pci", "--device", "e1000", "--device", "rtl8139,addr=5,help", "--device", "e1000,help"]);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("rtl8139 options:");
    expect(r.stdout).not.toContain("e1000 options:");
    expect(r.stdout).not.toContain("Bus  0");
  });

  it("an unknown driver is the usual one-line error, exit 1", () => {
    const r = machbus(["info", "pci", "--device", "nosuch,help"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^machbus: -device nosuch,help: 'nosuch' is not a valid device model name \(valid: .*e1000.*\)\n$/);
  });
});

describe("device_add help in the monitor", () => {
  it("prints what the CLI prints and changes nothing", () => {
    const cli = machbus(["monitor"], "device_add help\ndevice_add e1000,help\ninfo pci\n");
    expect(cli.stderr).toBe("");
    const m = Machine.create();
    const monitor = new Monitor(m);
    const before = monitor.execute("info pci").output;
    const list = monitor.execute("device_add help");
    const props = monitor.execute("device_add e1000,help");
    expect(list.output).toBe(machbus(["info", "pci", "--device", "help"]).stdout);
    expect(props.output.split("\n")[0]).toBe("e1000 options:");
    expect(cli.stdout).toBe(list.output + props.output + before);
    expect(m.devices().length).toBe(Machine.create().devices().length);
    expect(monitor.execute("info pci").output).toBe(before);
  });

  it("an unknown driver is the monitor's usual error", () => {
    const out = new Monitor(Machine.create()).execute("device_add nosuch,help").output;
    expect(out).toMatch(/^Error: 'nosuch' is not a valid device model name \(valid: .*\)\n$/);
  });
});
