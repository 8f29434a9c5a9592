import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { V86 } from "v86";
import { beforeAll, describe, expect, it } from "vitest";
import { Machine, builtinMachineTypes } from "../src/index.js";
import { runFirmware, type FirmwareRun } from "../src/cli/boot.js";
import { attachToV86, v86RamOptions } from "../src/embed/v86-adapter.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { linesOnlyIn } from "./support/lines.js";

/**
 * Debian's unmodified SeaBIOS runs on v86's CPU over a machbus machine built from the same
 * command line as each QEMU 7.2 fixture in test/fixtures/seabios, and must print the same PCI
 * section and leave every function's config space as it did on QEMU, at the same instant: the
 * newline of the last line pci_setup() prints.
 */
const BIOS = "/usr/share/seabios/bios.bin";
const FIXTURES = new URL("./fixtures/seabios/", import.meta.url);
const SCENARIOS = [
  "chipset",
  "e1000",
  "e1000-virtio-rtl",
  "bridge",
  "bridge-nested",
  "multifunction",
  "virtio-64bit",
  "vga",
  "q35-chipset",
  "q35-root-devices",
  "q35-rp-e1000e",
  "q35-two-rp",
  "q35-rp-virtio-pcie-pci-bridge",
];
const PCI_SECTION = "=== PCI bus & bridge init ===\n";

interface AfterBoot {
  args: string[];
  /** q35: dwords 0x100-0xffc of the PCI Express functions, through ECAM. */
  extended?: Record<string, string[]>;
  stoppedAt: string;
  buses: number[];
  present: string[];
  functions: Record<string, string[]>;
  infoPci: string[];
}

const text = (path: string): string => readFileSync(new URL(path, FIXTURES), "latin1");
const hex32 = (v: number): string => "0x" + (v >>> 0).toString(16).padStart(8, "0");
const bdfName = (bus: number, devfn: number): string =>
  `${bus.toString(16).padStart(2, "0")}:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`;

/**
 * The machbus machine for a fixture's QEMU arguments (-M, -m, -device, -drive). `type` replaces
 * -M's machine type (a seed-era type, whose QEMU 7.2 reference is pc-i440fx-1.4 with -global).
 */
function machineFor(args: readonly string[], type?: string): Machine {
  const devices: string[] = [];
  const drives: string[] = [];
  let machine: string | undefined;
  let memory: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-M") machine = args[++i];
    else if (a === "-m") memory = args[++i];
    else if (a === "-device") devices.push(args[++i]!);
    else if (a === "-drive") drives.push(args[++i]!);
  }
  if (type !== undefined) machine = [type, ...(machine?.split(",").slice(1) ?? [])].join(",");
  return Machine.create({ machine, memory, devices, drives });
}

/** What regenerate.mjs reads through HMP: bus 0, then each bridge's secondary bus, depth first. */
function dumpConfig(m: Machine): { buses: number[]; functions: Record<string, string[]> } {
  const latch = m.host.latch;
  const functions: Record<string, string[]> = {};
  const buses: number[] = [];
  const scan = (bus: number): void => {
    if (buses.includes(bus)) return;
    buses.push(bus);
    const secondaries: number[] = [];
    for (let devfn = 0; devfn < 256; devfn++) {
      if (m.configRead(bus, devfn, 0) === 0xffffffff) continue;
      const dwords = Array.from({ length: 64 }, (_, i) => m.configRead(bus, devfn, 4 * i));
      functions[bdfName(bus, devfn)] = dwords.map(hex32);
      if (((dwords[3]! >>> 16) & 0x7f) === 1) secondaries.push((dwords[6]! >>> 8) & 0xff);
    }
    for (const s of secondaries) if (s !== 0) scan(s);
  };
  scan(0);
  m.ioWrite(0xcf8, 4, latch);
  return { buses, functions };
}

const pciSection = (log: string): string[] => log.slice(log.indexOf(PCI_SECTION)).split("\n");

interface AtMarker {
  buses: number[];
  functions: Record<string, string[]>;
  extended: Record<string, string[]>;
  infoPci: string;
}

/** QEMU's PCIEXBAR base mask per length field (256, 128, 64 MiB). */
const PCIEXBAR_BASE_MASK = [0xf000_0000, 0xf800_0000, 0xfc00_0000];

/** Dwords 0x100-0xffc of `bdfs` through ECAM where the firmware put it (the MCH's PCIEXBAR), as regenerate.mjs read QEMU's with xp. */
function extendedConfig(m: Machine, bdfs: readonly string[]): Record<string, string[]> {
  const latch = m.host.latch;
  const pciexbar = m.configRead(0, 0, 0x60);
  m.ioWrite(0xcf8, 4, latch);
  const base = (pciexbar & PCIEXBAR_BASE_MASK[(pciexbar >> 1) & 3]!) >>> 0;
  const out: Record<string, string[]> = {};
  for (const bdf of bdfs) {
    const [bus, dev, fn] = bdf.split(/[:.]/).map((x) => parseInt(x, 16)) as [number, number, number];
    const at = base + bus * 2 ** 20 + ((dev << 3) | fn) * 2 ** 12;
    out[bdf] = Array.from({ length: 960 }, (_, i) => hex32(m.memRead(at + 0x100 + 4 * i, 4)));
  }
  return out;
}

/** SeaBIOS on v86 over `machine` up to the marker line, and the config space it left there. */
async function bootToMarker(
  machine: Machine,
  marker: string,
  extendedFor: readonly string[] = [],
): Promise<{ run: FirmwareRun; atMarker?: AtMarker }> {
  let atMarker: AtMarker | undefined;
  const run = await runFirmware(machine, {
    firmware,
    until: marker,
    timeoutMs: 10_000,
    // Inside the guest's OUT of the marker's newline: where QEMU's watchpoint stopped.
    atMarker: () =>
      (atMarker = { ...dumpConfig(machine), extended: extendedConfig(machine, extendedFor), infoPci: formatInfoPci(machine) }),
  });
  return { run, atMarker };
}

/** The first `length` bytes of fw_cfg item `key`, read as firmware does (select at 0x510, bytes from 0x511). */
function fwCfgItem(m: Machine, key: number, length: number): number[] {
  m.ioWrite(0x510, 2, key);
  return Array.from({ length }, () => m.ioRead(0x511, 1));
}

interface FwCfgView {
  items: Record<string, { key: number; bytes: string }>;
  files: { name: string; size: number; select: number; bytes?: string }[];
}

/** machbus's fw_cfg as regenerate.mjs read QEMU's: the same items (as many bytes), the directory, and file bytes where QEMU's were recorded. */
function fwCfgLike(m: Machine, qemu: FwCfgView): FwCfgView {
  const hex = (bytes: number[]): string => Buffer.from(bytes).toString("hex");
  const items = Object.fromEntries(
    Object.entries(qemu.items).map(([name, { key, bytes }]) => [name, { key, bytes: hex(fwCfgItem(m, key, bytes.length / 2)) }]),
  );
  const count = Buffer.from(fwCfgItem(m, 0x19, 4)).readUInt32BE(0);
  const dir = Buffer.from(fwCfgItem(m, 0x19, 4 + 64 * count));
  const files = Array.from({ length: count }, (_, i) => {
    const e = dir.subarray(4 + 64 * i, 68 + 64 * i);
    const name = e.subarray(8).toString("latin1").replace(/\0+$/, "");
    const file: FwCfgView["files"][number] = { name, size: e.readUInt32BE(0), select: e.readUInt16BE(4) };
    if (qemu.files.find((f) => f.name === name)?.bytes !== undefined) file.bytes = hex(fwCfgItem(m, file.select, file.size));
    return file;
  });
  return { items, files };
}

// npm test installs Debian's seabios first (test/setup/system-packages.sh); without it this fails loudly.
if (!existsSync(BIOS)) throw new Error(`${BIOS} is missing: install Debian's seabios package`);
const firmware = new Uint8Array(readFileSync(BIOS));
const fwCfgDma = JSON.parse(text("fw-cfg-dma.json")) as {
  scenarios: Record<string, { onlyWithDma: string[]; onlyWithoutDma: string[] }>;
};

describe("SeaBIOS 1.16.2 on v86 over machbus, against QEMU 7.2", () => {
  for (const scenario of SCENARIOS) {
    const fixture = JSON.parse(text(`after-boot/${scenario}.json`)) as AfterBoot;
    describe(scenario, () => {
      let run: FirmwareRun;
      let atMarker: AtMarker | undefined;

      beforeAll(async () => {
        ({ run, atMarker } = await bootToMarker(machineFor(fixture.args), fixture.stoppedAt, Object.keys(fixture.extended ?? {})));
      });

      it("reaches the end of PCI init", () => {
        expect(run.markerMs, run.log).not.toBeNull();
      });

      // machbus's fw_cfg has no DMA interface (its ID says so), so the whole log equals QEMU's
      // run with -global fw_cfg_io.dma_enabled=off.
      it("prints QEMU's log with fw_cfg DMA off, from power-on to the marker, line for line", () => {
        expect(run.log.split("\n")).toEqual(text(`logs-fw-cfg-no-dma/${scenario}.log`).split("\n"));
      });

      it("prints the PCI section of QEMU's default run (DMA on) line for line; the DMA line is the only other difference", () => {
        const qemu = text(`logs/${scenario}.log`);
        expect(pciSection(run.log)).toEqual(pciSection(qemu));
        const { onlyWithDma, onlyWithoutDma } = fwCfgDma.scenarios[scenario]!;
        expect(linesOnlyIn(qemu.split("\n"), run.log.split("\n"))).toEqual(onlyWithDma);
        expect(linesOnlyIn(run.log.split("\n"), qemu.split("\n"))).toEqual(onlyWithoutDma);
      });

      it("has the same functions on the same buses after the firmware ran", () => {
        expect(atMarker?.buses).toEqual(fixture.buses);
        expect(Object.keys(atMarker?.functions ?? {})).toEqual(fixture.present);
      });

      for (const bdf of fixture.present) {
        it(`${bdf}: all 64 config dwords equal QEMU's (BARs, command, bridge windows, PIRQ routes, interrupt lines)`, () => {
          expect(atMarker?.functions[bdf]).toEqual(fixture.functions[bdf]);
        });
      }

      for (const bdf of Object.keys(fixture.extended ?? {})) {
        it(`${bdf}: the extended config space (0x100-0xfff) through ECAM equals QEMU's`, () => {
          expect(atMarker?.extended[bdf]).toEqual(fixture.extended![bdf]);
        });
      }

      it("shows QEMU's info pci", () => {
        expect(atMarker?.infoPci).toBe(fixture.infoPci.join("\n") + "\n");
      });
    });
  }
});

interface MachineTypeRun extends AfterBoot {
  log: string[];
  fwCfg: FwCfgView;
  cmos: Record<string, number>;
  /** On types whose fw_cfg has DMA by default (the record is then the boot with DMA off). */
  withDma?: { onlyWithDma: string[]; onlyWithoutDma: string[]; configIdentical: boolean; infoPciIdentical: boolean };
}

interface MachineTypeFixture {
  machine: string;
  /** For a type QEMU 7.2 no longer has: the type it was booted as, with its compat entries as -global. */
  qemuMachine?: string;
  scenarios: Record<string, MachineTypeRun>;
}

/** fw_cfg files QEMU lists that machbus does not, and why. */
const UNMODELLED_FILES: [RegExp, string][] = [
  [/^etc\/tpm\/log$/, "no TPM is modelled"],
  [/^etc\/smbios\/smbios-(tables|anchor)$/, "SMBIOS tables: not generated, so SeaBIOS builds its own"],
  [/^genroms\//, "option ROM images (kvmvapic.bin, and NIC ROMs where rombar=0): machbus reads no ROM files"],
];
/** fw_cfg items and files machbus has with other contents than QEMU's, and why. */
const OTHER_CONTENTS = new Map([
  // The tables themselves: test/acpi.test.ts compares them byte for byte with QEMU's.
  ["etc/table-loader", "QEMU's loader script (test/acpi.test.ts); on older types empty (see below)"],
  ["etc/acpi/tables", "QEMU's tables blob, built when the firmware first reads it (test/acpi.test.ts)"],
  ["etc/acpi/rsdp", "QEMU's RSDP (test/acpi.test.ts)"],
  ["hpet", "count 0: no HPET is modelled (QEMU's pc has one at 0xfed00000)"],
  ["smbiosEntries", "no SMBIOS fields (QEMU passes pc-i440fx-2.0's type 1 strings this way)"],
]);

/** The CMOS bytes the machine's board defines for its RAM layout, keyed as the fixtures key them ("0x34"). */
const cmosMemory = (m: Machine): Record<string, number> =>
  Object.fromEntries([...(m.type.board.cmosBytes?.(m.ramLayout) ?? [])].map(([i, v]) => ["0x" + i.toString(16), v]));

/** QEMU's name for a machbus type: pc-i440fx-X.Y, pc-0.11, pc-0.10. */
const qemuName = (type: { name: string; aliases: readonly string[] }): string =>
  type.aliases.find((a) => /^pc-(i440fx-)?\d/.test(a)) ?? type.name;

describe("SeaBIOS on every pc machine type, against QEMU 7.2 (machine-types/)", () => {
  const dir = new URL("machine-types/", FIXTURES);
  const fixtures = new Map(
    readdirSync(dir).map((f) => [f.replace(/\.json$/, ""), JSON.parse(readFileSync(new URL(f, dir), "latin1")) as MachineTypeFixture]),
  );
  const pcTypes = builtinMachineTypes.list().filter((t) => t.board.name === "i440fx");

  it("has a QEMU reference for every pc machine type machbus offers, and for no other", () => {
    expect([...fixtures.keys()].sort()).toEqual(pcTypes.map(qemuName).sort());
  });

  for (const type of pcTypes) {
    const fixture = fixtures.get(qemuName(type));
    if (!fixture) continue; // the test above names it
    describe(`${type.name} (${fixture.machine}${fixture.qemuMachine ? `, booted on QEMU as ${fixture.qemuMachine}` : ""})`, () => {
      for (const [scenario, record] of Object.entries(fixture.scenarios)) {
        describe(scenario, () => {
          let machine: Machine;
          let run: FirmwareRun;
          let atMarker: AtMarker | undefined;

          beforeAll(async () => {
            machine = machineFor(record.args, fixture.qemuMachine ? fixture.machine : undefined);
            ({ run, atMarker } = await bootToMarker(machine, record.stoppedAt));
          });

          it("prints QEMU's log from power-on to the end of PCI init, line for line", () => {
            expect(run.log.split("\n")).toEqual([...record.log, ""]);
          });

          if (record.withDma) {
            // machbus's fw_cfg has no DMA interface, so the record above is QEMU's boot with DMA off.
            it("differs from QEMU's default boot (fw_cfg DMA on) only by the DMA line", () => {
              expect(record.withDma).toMatchObject({
                onlyWithDma: ["QEMU fw_cfg DMA interface supported"],
                onlyWithoutDma: [],
                configIdentical: true,
                infoPciIdentical: true,
              });
            });
          }

          it("leaves every function's 64 config dwords as QEMU's, on the same buses", () => {
            expect(atMarker?.buses).toEqual(record.buses);
            expect(Object.keys(atMarker?.functions ?? {})).toEqual(record.present);
            expect(atMarker?.functions).toEqual(record.functions);
          });

          it("shows QEMU's info pci", () => {
            expect(atMarker?.infoPci).toBe(record.infoPci.join("\n") + "\n");
          });

          it("tells the firmware through fw_cfg what QEMU does, but for the named differences", () => {
            const qemu = record.fwCfg;
            const ours = fwCfgLike(machine, qemu);
            // Types older than 7.2 keep an empty loader (qemuAcpiTables): SeaBIOS builds its own tables there.
            const acpiFiles = machine.type.machineClass.qemuAcpiTables ? [] : ["etc/acpi/tables", "etc/acpi/rsdp"];
            const modelled = qemu.files.filter((f) => !UNMODELLED_FILES.some(([re]) => re.test(f.name)) && !acpiFiles.includes(f.name));
            expect(ours.files.map((f) => f.name)).toEqual(modelled.map((f) => f.name));
            for (const name of Object.keys(qemu.items).filter((n) => !OTHER_CONTENTS.has(n))) {
              expect(ours.items[name], name).toEqual(qemu.items[name]);
            }
            // Select keys differ where QEMU has files before this one that machbus lacks.
            modelled.forEach(({ select: _, ...theirs }, i) => {
              const { select: __, ...mine } = ours.files[i]!;
              if (!OTHER_CONTENTS.has(theirs.name)) expect(mine, theirs.name).toEqual(theirs);
            });
          });

          it("has the board give the CMOS memory bytes QEMU sets for this RAM layout", () => {
            expect(cmosMemory(machine)).toEqual(record.cmos);
          });
        });
      }
    });
  }
});

describe("RAM below and above 4 GiB, as QEMU 7.2 splits it (ram-layouts.json)", () => {
  const { layouts } = JSON.parse(text("ram-layouts.json")) as {
    layouts: { machine: string; memory: string; ramSize: string; e820: string; cmos: Record<string, number> }[];
  };
  for (const layout of layouts) {
    it(`-M ${layout.machine} -m ${layout.memory}: fw_cfg's RAM size and etc/e820, and the CMOS memory bytes, equal QEMU's`, () => {
      const m = Machine.create({ machine: layout.machine, memory: layout.memory });
      const qemu: FwCfgView = {
        items: { ramSize: { key: 0x03, bytes: layout.ramSize } },
        files: [{ name: "etc/e820", size: layout.e820.length / 2, select: 0, bytes: layout.e820 }],
      };
      const ours = fwCfgLike(m, qemu);
      expect(ours.items.ramSize?.bytes).toBe(layout.ramSize);
      expect(ours.files.find((f) => f.name === "etc/e820")?.bytes).toBe(layout.e820);
      expect(cmosMemory(m)).toEqual(layout.cmos);
    });
  }
});

describe("board I/O devices (ports read through the machine)", () => {
  const item = fwCfgItem;

  it("fw_cfg: signature, ID without DMA, RAM size, and arch-local keys that do not alias the generic ones", () => {
    const m = Machine.create({ memory: "64M" });
    expect(String.fromCharCode(...item(m, 0x00, 4))).toBe("QEMU");
    expect(item(m, 0x01, 4)).toEqual([1, 0, 0, 0]);
    expect(item(m, 0x03, 8)).toEqual([0, 0, 0, 4, 0, 0, 0, 0]);
    expect(item(m, 0x8002, 4)).toEqual([1, 0, 0, 0]); // IRQ0 override
    expect(item(m, 0x0002, 4)).toEqual([0, 0, 0, 0]); // the UUID, not the override
    expect(item(m, 0x05, 3)).toEqual([1, 0, 0]); // one CPU, then zeros past the end
    // As QEMU 7.2 answers (read through its monitor): invalid sizes read 0; 0x512 is nothing.
    expect([m.ioRead(0x510, 2), m.ioRead(0x510, 4), m.ioRead(0x511, 2)]).toEqual([0, 0, 0xff00]);
  });

  it("fw_cfg: the file directory lists etc/e820 (QEMU's entries for -m 64) and etc/table-loader", () => {
    const m = Machine.create({ memory: "64M" });
    const [n] = item(m, 0x19, 4).slice(3);
    const dir = item(m, 0x19, 4 + 64 * n!).slice(4);
    const files = Array.from({ length: n! }, (_, i) => dir.slice(64 * i, 64 * i + 64)).map((e) => ({
      size: (e[0]! << 24) | (e[1]! << 16) | (e[2]! << 8) | e[3]!,
      select: (e[4]! << 8) | e[5]!,
      name: String.fromCharCode(...e.slice(8)).replace(/\0+$/, ""),
    }));
    expect(files.map((f) => f.name)).toEqual([
      "bios-geometry",
      "bootorder",
      "etc/acpi/rsdp",
      "etc/acpi/tables",
      "etc/boot-fail-wait",
      "etc/e820",
      "etc/system-states",
      "etc/table-loader",
    ]);
    const e820 = files.find((f) => f.name === "etc/e820")!;
    // What QEMU 7.2 serves: AMD's HyperTransport hole reserved, then 64 MiB of RAM at 0.
    // Byte for byte what QEMU 7.2 serves (read through its monitor): AMD's HyperTransport hole
    // reserved, then 64 MiB of RAM at 0.
    expect(Buffer.from(item(m, e820.select, e820.size)).toString("hex")).toBe(
      "00000000fd000000" + "0000000003000000" + "02000000" + "0000000000000000" + "0000000400000000" + "01000000",
    );
  });

  it("fw_cfg: DMA is refused by name", () => {
    expect(() => Machine.create({ globals: ["fw_cfg_io.dma_enabled=on"] })).toThrow("fw_cfg_io: the DMA interface is not modelled");
  });

  it("isa-debugcon: reads back 0xe9, writes go to the debugcon event and the sink", () => {
    const m = Machine.create({ devices: ["isa-debugcon,id=con,iobase=0x402,chardev=d"] });
    const bytes: number[] = [];
    m.events.on("debugcon", (e) => bytes.push(e.iobase, e.byte));
    const sink: number[] = [];
    (m.findIsaDevice("con") as unknown as { sink: (b: number) => void }).sink = (b) => sink.push(b);
    expect(m.ioRead(0x402, 1)).toBe(0xe9);
    expect(m.ioRead(0x402, 2)).toBe(0xffe9); // as QEMU 7.2 reads it: the port is one byte wide
    m.ioWrite(0x402, 2, 0x4241); // QEMU prints "A" only
    expect([bytes, sink]).toEqual([[0x402, 0x41], [0x41]]);
  });

  it("PIIX4 PM: the ACPI block follows PMBASE; the PM timer counts 3.579545 MHz of the machine's clock in 24 bits", () => {
    let ns = 1e9;
    const m = Machine.create({ clock: { nowNs: () => ns } });
    const moves: (number | null)[] = [];
    m.events.on("region-mapped", (e) => moves.push(e.newAddress));
    m.events.on("region-unmapped", (e) => moves.push(e.newAddress));
    expect(m.ioRead(0x608, 4)).toBe(0xffffffff);
    m.configWrite(0, 0x0b, 0x40, 4, 0x601);
    m.configWrite(0, 0x0b, 0x80, 1, 1);
    expect(m.ioRead(0x608, 4)).toBe(3579545 & 0xffffff);
    ns += 5e9;
    expect(m.ioRead(0x608, 4)).toBe((6 * 3579545) & 0xffffff);
    expect(m.ioRead(0x608, 2)).toBe(0); // the timer takes 32-bit reads only
    expect(m.ioRead(0x600, 2) & 1).toBe(1); // TMR_STS
    m.ioWrite(0x600, 2, 1);
    expect(m.ioRead(0x600, 2) & 1).toBe(0);
    // Sizes and offsets as QEMU 7.2 answers them (read through its monitor).
    expect([m.ioRead(0x609, 4), m.ioRead(0x600, 4), m.ioRead(0x604, 4), m.ioRead(0x60c, 1)]).toEqual([0xff000000, 0, 0xffff0000, 0xff]);
    m.ioWrite(0x602, 2, 0x0120);
    m.ioWrite(0x604, 2, 0x1234);
    expect([m.ioRead(0x600, 4), m.ioRead(0x605, 1)]).toEqual([0x01200000, 0x34]);
    m.ioWrite(0x605, 1, 0x56);
    expect(m.ioRead(0x604, 2)).toBe(0x56);
    m.configWrite(0, 0x0b, 0x40, 4, 0xb001);
    expect(m.ioRead(0xb008, 4)).toBe((6 * 3579545) & 0xffffff);
    expect(m.ioRead(0x608, 4)).toBe(0xffffffff);
    m.configWrite(0, 0x0b, 0x80, 1, 0);
    expect(moves).toEqual([0x600, 0xb000, null]);
  });

  it("PIIX4 PM: a snapshot carries PM1 enable and control, and the loaded PMBASE moves the block", () => {
    const m = Machine.create();
    m.configWrite(0, 0x0b, 0x40, 4, 0xb001);
    m.configWrite(0, 0x0b, 0x80, 1, 1);
    m.ioWrite(0xb002, 2, 0x0120);
    m.ioWrite(0xb004, 2, 0x1234);
    const copy = Machine.create();
    copy.load(m.save());
    expect([copy.ioRead(0xb002, 2), copy.ioRead(0xb004, 2)]).toEqual([0x0120, 0x1234]);
    expect(copy.ioRead(0x602, 2)).toBe(0xffff);
  });
});

const V86_BUILD = dirname(createRequire(import.meta.url).resolve("v86"));

describe("attachToV86", () => {
  interface Cpu {
    io: {
      ports: { device: unknown }[];
      port_read32(p: number): number;
      port_write32(p: number, v: number): void;
      port_write8(p: number, v: number): void;
      port_read8(p: number): number;
    };
    device_raise_irq(line: number): void;
    device_lower_irq(line: number): void;
    reboot_internal(): void;
    memory_size: { [index: number]: number };
    read8(address: number): number;
    write8(address: number, value: number): void;
  }
  const cmosRead = (cpu: Cpu, index: number): number => {
    cpu.io.port_write8(0x70, index);
    return cpu.io.port_read8(0x71);
  };
  const readyV86 = async (options: object): Promise<{ emulator: V86; cpu: Cpu }> => {
    const emulator = new V86({ vga_memory_size: 2 << 20, autostart: false, ...options });
    await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => resolve()));
    return { emulator, cpu: (emulator as unknown as { v86: { cpu: Cpu } }).v86.cpu };
  };

  it("claims the machine's ports as the guest maps them, forwards IRQs and resets, and gives v86 its entries back", async () => {
    const machine = Machine.create({ memory: "64M", devices: ["pci-bridge,id=br1,chassis_nr=1"] });
    const emulator = new V86({ wasm_path: join(V86_BUILD, "v86.wasm"), memory_size: 64 << 20, vga_memory_size: 2 << 20, autostart: false });
    await new Promise<void>((resolve) => emulator.add_listener("emulator-ready", () => resolve()));
    const cpu = (emulator as unknown as { v86: { cpu: Cpu } }).v86.cpu;
    const calls: string[] = [];
    cpu.device_raise_irq = (line) => calls.push(`raise ${line}`);
    cpu.device_lower_irq = (line) => calls.push(`lower ${line}`);
    cpu.reboot_internal = () => calls.push("reboot");
    const io = cpu.io;
    const before = io.ports.slice();
    const attachment = attachToV86(emulator, machine);
    const ours = io.ports[0xcf8]!.device;
    expect([0xcfc, 0xcf9, 0x510, 0x511].map((p) => io.ports[p]!.device)).toEqual([ours, ours, ours, ours]);
    expect(io.ports[0x3f8]).toBe(before[0x3f8]); // v86's COM1 stays v86's
    expect(io.port_read32(0xcf8)).toBe(0); // the PAM0 workaround's config cycles leave no trace in the latch
    expect(machine.configRead(0, 0, 0x59, 1)).toBe(0x10);
    io.port_write32(0xcf8, 0x80000000 | 0);
    expect(io.port_read32(0xcfc)).toBe(0x12378086); // the config cycle reached machbus's i440FX
    // PIIX4's PM block follows PMBASE: enabled at 0x600, its timer is served at 0x608.
    machine.configWrite(0, 0x0b, 0x40, 4, 0x601);
    machine.configWrite(0, 0x0b, 0x80, 1, 1);
    expect(io.ports[0x608]!.device).toBe(ours);
    machine.configWrite(0, 0x0b, 0x80, 1, 0);
    expect(io.ports[0x608]).toBe(before[0x608]);
    // An I/O BAR (the IDE controller's BAR 4) is claimed where the guest puts it.
    machine.configWrite(0, 0x09, 0x20, 4, 0xc101);
    machine.configWrite(0, 0x09, 0x04, 2, 1);
    expect(io.ports[0xc10f]!.device).toBe(ours);
    machine.configWrite(0, 0x09, 0x04, 2, 0);
    expect(io.ports[0xc10f]).toBe(before[0xc10f]);
    // The bridge's SHPC BAR above RAM goes through v86's memory map; below RAM it cannot.
    machine.configWrite(0, 0x10, 0x10, 4, 0xfebff000);
    machine.configWrite(0, 0x10, 0x04, 2, 2);
    expect(attachment.unroutable()).toEqual([]);
    machine.configWrite(0, 0x10, 0x10, 4, 0x100000);
    expect(attachment.unroutable()).toMatchObject([{ bdf: "00:02.0", bar: 0, address: 0x100000n }]);
    // Slot 2 INTA is PIRQB; routed to IRQ 11 it reaches v86's PIC.
    machine.configWrite(0, 0x08, 0x61, 1, 11);
    machine.findDevice("br1")!.function.setIrq(true);
    machine.findDevice("br1")!.function.setIrq(false);
    // A guest reset through 0xCF9 resets the machine (PIRQB routing off again) and reboots v86.
    io.port_write8(0xcf9, 0x06);
    expect(calls).toEqual(["raise 11", "lower 11", "reboot"]);
    expect(machine.configRead(0, 0x08, 0x60)).toBe(0x80808080);
    expect(machine.configRead(0, 0, 0x59, 1)).toBe(0x10);
    attachment.detach();
    expect(io.ports.every((entry, p) => entry === before[p])).toBe(true);
    await emulator.destroy();
  });

  it("gives v86 a 4 GiB machine's 3 GiB of low RAM beyond v86's own 2 GiB limit, and the CMOS memory bytes of the layout", async () => {
    const machine = Machine.create({ memory: "4G", devices: ["pci-bridge,id=br1,chassis_nr=1"] });
    const wasm = await WebAssembly.compile(readFileSync(join(V86_BUILD, "v86.wasm")));
    const { emulator, cpu } = await readyV86(v86RamOptions(machine, wasm));
    const attachment = attachToV86(emulator, machine);
    expect(cpu.memory_size[0]).toBe(0xc000_0000);
    // The top of low RAM, where SeaBIOS relocates itself, is RAM: what is written there reads back.
    cpu.write8(0xbfff_fff0, 0x5a);
    expect(cpu.read8(0xbfff_fff0)).toBe(0x5a);
    const cmos = machine.type.board.cmosBytes!(machine.ramLayout);
    expect([...cmos.keys()].map((i) => cmosRead(cpu, i))).toEqual([...cmos.values()]);
    // A memory BAR below 3 GiB is RAM to v86; at 3 GiB it is routed.
    machine.configWrite(0, 0x10, 0x10, 4, 0xbff0_0000);
    machine.configWrite(0, 0x10, 0x04, 2, 2);
    expect(attachment.unroutable()).toMatchObject([{ bdf: "00:02.0", address: 0xbff0_0000n }]);
    machine.configWrite(0, 0x10, 0x10, 4, 0xc000_0000);
    expect(attachment.unroutable()).toEqual([]);
    attachment.detach();
    await emulator.destroy();
  });

  it("refuses a v86 whose RAM is not the machine's RAM below 4 GiB, and RAM v86 cannot take", async () => {
    const { emulator } = await readyV86({ wasm_path: join(V86_BUILD, "v86.wasm"), memory_size: 64 << 20 });
    expect(() => attachToV86(emulator, Machine.create({ memory: "128M" }))).toThrow(
      "attachToV86: v86 has 67108864 bytes of RAM, the machine 134217728 below 4 GiB; create v86 with v86RamOptions(machine, wasm)",
    );
    await emulator.destroy();
    const wasm = await WebAssembly.compile(readFileSync(join(V86_BUILD, "v86.wasm")));
    expect(() => v86RamOptions(Machine.create({ memory: "100000K" }), wasm)).toThrow("v86 takes RAM below 4 GiB in whole 128 KiB");
    expect(() => v86RamOptions(Machine.create({ machine: "pc,max-ram-below-4g=4G", memory: "4000M" }), wasm)).toThrow(
      "this machine has 4194304000 bytes there",
    );
  });
});
