import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine, MachbusError, builtinDrivers, builtinMachineTypes, type IrqEvent } from "../src/index.js";
import { parseDeviceSpec } from "../src/machine/device-spec.js";
import { deviceHelp } from "../src/monitor/device-help.js";
import { formatQtree } from "../src/monitor/info-qtree.js";
import { lspciDump } from "../src/pci/lspci-dump.js";
import { queryPci } from "../src/pci/query-pci.js";
import { dumpMachineConfig, formatMachineConfig, machineOptionsFromConfig, parseMachineConfig } from "../src/state/machine-config.js";
import { compareMachines, migrationStream, receiveMigration } from "../src/state/migration.js";
import { machbus } from "./support/cli.js";
import { Q35_FIXTURES, q35FixtureNames, readQ35Text } from "./support/qemu-fixtures.js";
import { PcieEndpointTestDevice } from "./support/test-devices.js";

const LPC = 0xf8; // 00:1f.0
const AHCI = 0xfa; // 00:1f.2
const SMBUS = 0xfb; // 00:1f.3

/**
 * The PCI part of QEMU's `info qtree`, as machbus prints it: the pcie.0 bus and its devices,
 * without the child buses machbus does not model below them (i2c, ide.N, isa.0) and without
 * GPIO lines.
 */
function qemuPciTree(qtree: string): string[] {
  const lines = qtree.split("\n");
  const start = lines.findIndex((l) => l.trim() === "bus: pcie.0");
  const base = lines[start]!.length - lines[start]!.trimStart().length;
  const out: string[] = [];
  let skipBelow = -1;
  for (const l of lines.slice(start)) {
    const indent = l.length - l.trimStart().length;
    if (out.length && indent <= base) break;
    if (skipBelow >= 0 && indent > skipBelow) continue;
    skipBelow = -1;
    if (out.length && l.trim().startsWith("bus: ")) {
      skipBelow = indent;
      continue;
    }
    if (l.trim().startsWith("gpio-")) continue;
    out.push(l.slice(base));
  }
  return out;
}

describe("q35 machine types", () => {
  it("q35 is an alias of pc-q35-7.2; every pc-q35 type QEMU 7.2 lists exists, 4.0.1 included", () => {
    expect(builtinMachineTypes.resolve("q35").name).toBe("pc-q35-7.2");
    const qemu = [...readQ35Text("machines-help.txt").matchAll(/^(pc-q35-\S+)/gm)].map((m) => m[1]!);
    const ours = builtinMachineTypes
      .list()
      .filter((t) => t.name.startsWith("pc-q35-"))
      .map((t) => t.name);
    expect(new Set(ours)).toEqual(new Set(qemu));
    expect(ours.indexOf("pc-q35-4.1")).toBe(ours.indexOf("pc-q35-4.0.1") - 1);
    expect(ours.indexOf("pc-q35-4.0")).toBe(ours.indexOf("pc-q35-4.0.1") + 1);
  });

  it("each pc-q35 type has the compat properties of the pc-i440fx type of its version, as QEMU 7.2 shows (compat-check.json)", () => {
    const check = JSON.parse(readQ35Text("compat-check.json")) as {
      versions: Record<string, { i440fx: string; sameDeviceProperties: boolean }>;
    };
    for (const [q35, { i440fx, sameDeviceProperties }] of Object.entries(check.versions)) {
      expect({ q35, sameDeviceProperties }).toEqual({ q35, sameDeviceProperties: true });
      expect({ q35, chain: builtinMachineTypes.resolve(q35).compatChain }).toEqual({
        q35,
        chain: builtinMachineTypes.resolve(i440fx).compatChain,
      });
    }
  });

  it("the versions change the MCH as QEMU's do: no extended TSEG on 2.9 and older, no SMRAM at SMBASE on 4.2 and older", () => {
    const tseg = (machine: string) => Machine.create({ machine }).configRead(0, 0, 0x50) & 0xffff;
    expect([tseg("q35"), tseg("pc-q35-2.10"), tseg("pc-q35-2.9")]).toEqual([16, 16, 0]);
    const smbaseQuery = (machine: string) => {
      const m = Machine.create({ machine });
      m.configWrite(0, 0, 0x9c, 1, 0xff);
      return m.configRead(0, 0, 0x9c, 1);
    };
    expect([smbaseQuery("pc-q35-5.0"), smbaseQuery("pc-q35-4.2")]).toEqual([0x01, 0xff]);
  });
});

describe("q35 info qtree and -device help against QEMU 7.2", () => {
  for (const name of q35FixtureNames().filter((n) => n.startsWith("chipset"))) {
    it(`${name}: the pcie.0 tree with the chipset's properties, line by line`, () => {
      const machine = name === "chipset" ? "q35" : name.slice("chipset@".length);
      const ours = formatQtree(Machine.create({ machine })).trimEnd().split("\n");
      expect(ours).toEqual(qemuPciTree(readQ35Text(`qtree/${name}.txt`)));
    });
  }

  /** QEMU QOM properties machbus does not have. */
  const NOT_MODELLED: Record<string, string[]> = { "ICH9-LPC": ["x-smi-negotiated-features"], "ich9-ahci": ["ahci-idp[0]", "ahci[0]"] };
  for (const driver of ["mch", "ICH9-LPC", "ich9-ahci", "ICH9-SMB"]) {
    it(`-device ${driver},help lists QEMU's properties with their types and defaults`, () => {
      const facts = (text: string) =>
        text
          .trimEnd()
          .split("\n")
          .slice(1)
          .map((l) => /^ {2}([^=]+)=<(.+?)>(?: +- .*?(?:\(default: (\S+)\))?)?$/.exec(l)!)
          .map((m) => [m[1], m[2], m[3] ?? null])
          .filter(([n]) => !(NOT_MODELLED[driver] ?? []).includes(n!));
      expect(facts(deviceHelp(`${driver},help`, builtinDrivers)!)).toEqual(facts(readQ35Text(`device-help/${driver}.txt`)));
    });
  }
});

describe("q35 board errors against QEMU 7.2 (q35/errors.json)", () => {
  interface ErrorCase {
    name: string;
    args: string[];
    stderr: string;
    accepted: boolean;
    infoPci?: string;
  }
  const cases = (JSON.parse(readQ35Text("errors.json")) as { cases: ErrorCase[] }).cases;
  const devicesOf = (c: ErrorCase) => c.args.flatMap((a, i) => (c.args[i - 1] === "-device" ? [a] : []));
  const machineOf = (c: ErrorCase) => c.args[c.args.indexOf("-M") + 1]!;
  const known = (c: ErrorCase) => devicesOf(c).every((d) => builtinDrivers.has(parseDeviceSpec(d).driver));

  for (const c of cases.filter(known)) {
    if (c.accepted) {
      it(`${c.name}: accepted as QEMU accepts it, with QEMU's info pci`, () => {
        const m = Machine.create({ machine: machineOf(c), devices: devicesOf(c) });
        expect(m.devices().length).toBeGreaterThan(0);
        expect(machbus(["info", "pci", "-M", machineOf(c), ...devicesOf(c).flatMap((d) => ["-device", d])]).stdout).toBe(c.infoPci);
      });
      continue;
    }
    it(`${c.name}: refused with QEMU's text (or a clearer one naming the same thing)`, () => {
      const qemu = c.stderr.split("\n")[0]!.replace(/^qemu-system-x86_64: /, "");
      let message = "";
      try {
        Machine.create({ machine: machineOf(c), devices: devicesOf(c) });
      } catch (e) {
        message = (e as MachbusError).describe();
      }
      if (c.name === "machine-q35-option") expect(message).toMatch(/machine pc-q35-7\.2: unknown option 'nosuch'/);
      else expect(message.startsWith(qemu)).toBe(true);
    });
  }

  it("every case's devices exist, so every case is checked above", () => {
    expect(cases.filter((c) => !known(c)).map((c) => c.name)).toEqual([]);
  });

  it("pcie.0 takes no hotplug, with QEMU's text, and the machine stays as it was", () => {
    const m = Machine.create({ machine: "q35" });
    const before = lspciDump(m, 4);
    expect(() => m.addDevice("e1000,id=n")).toThrow("Bus 'pcie.0' does not support hotplugging");
    expect(lspciDump(m, 4)).toBe(before);
    expect(m.findDevice("n")).toBeUndefined();
  });
});

describe("ICH9 interrupt routing (QEMU's ich9_lpc_map_irq and ich9_lpc_set_irq)", () => {
  function raise(devices: string[], id: string) {
    const m = Machine.create({ machine: "q35", devices, drivers: [] });
    const irqs: IrqEvent[] = [];
    m.events.on("irq", (e) => irqs.push(e));
    return { m, irqs, set: (level: boolean) => m.findDevice(id)!.setIrq(level) };
  }

  it("slots 0-24: INTA of slot s drives PIRQ (s mod 4) + E, which is I/O APIC pin 16 + link; the PIC gets it once routed", () => {
    const { m, irqs, set } = raise(["e1000,addr=2,id=n"], "n"); // slot 2 INTA: PIRQG
    set(true);
    expect(irqs).toEqual([{ line: 16 + 6, level: true }]);
    m.configWrite(0, LPC, 0x68, 4, 0x800b8080); // PIRQG -> IRQ 11
    expect(irqs.at(-1)).toEqual({ line: 11, level: true });
    set(false);
    expect(irqs.slice(-2)).toEqual([
      { line: 11, level: false },
      { line: 22, level: false },
    ]);
  });

  it("slots 25-31 follow the chipset configuration registers at RCBA: INTA-D -> PIRQA-D after reset, rewritable", () => {
    const { m, irqs, set } = raise(["e1000,addr=0x19,id=n"], "n"); // slot 25
    set(true);
    expect(irqs).toEqual([{ line: 16, level: true }]); // PIRQA
    set(false);
    m.configWrite(0, LPC, 0xf0, 4, 0xfed1c001); // RCBA, enabled
    expect(m.memRead(0xfed1c000 + 0x3150, 2)).toBe(0x3210); // D25IR
    expect(m.memRead(0xfed1c000 + 0x3410, 4)).toBe(0x20); // GCS: no reboot
    m.memWrite(0xfed1c000 + 0x3150, 2, 0x3213); // INTA -> PIRQD
    set(true);
    expect(irqs.at(-1)).toEqual({ line: 19, level: true });
    m.configWrite(0, LPC, 0xf0, 4, 0xfed1c000);
    expect(m.memRead(0xfed1c000 + 0x3150, 2)).toBe(0xffff); // RCBA disabled: the block is gone
  });
});

describe("ICH9 LPC, AHCI and SMBus registers", () => {
  it("the ACPI PM block appears at PMBASE once ACPI_CTRL enables it: PM timer, GPE0, and APM's ACPI enable sets SCI_EN", () => {
    let ns = 1e9;
    const m = Machine.create({ machine: "q35", clock: { nowNs: () => ns } });
    m.configWrite(0, LPC, 0x40, 4, 0x601);
    expect(m.ioRead(0x608, 4)).toBe(0xffffffff);
    m.configWrite(0, LPC, 0x44, 1, 0x80);
    expect(m.ioRead(0x608, 4)).toBe(3579545 & 0xffffff);
    ns += 1e9;
    expect(m.ioRead(0x608, 4)).toBe((2 * 3579545) & 0xffffff);
    m.ioWrite(0x62c, 1, 0x02); // GPE0 enable byte 4... is the second half's first byte: 0x628
    expect(m.ioRead(0x628, 4)).toBe(0);
    m.ioWrite(0x628, 1, 0x02);
    expect(m.ioRead(0x628, 1)).toBe(0x02);
    expect(m.ioRead(0x604, 2) & 1).toBe(0);
    m.ioWrite(0xb2, 1, 0x02); // APM: ACPI enable
    expect(m.ioRead(0x604, 2) & 1).toBe(1);
    m.configWrite(0, LPC, 0x44, 1, 0x00);
    expect(m.ioRead(0x608, 4)).toBe(0xffffffff);
  });

  it("0xcf9 is ICH9's reset control: bit 2 asks for a reset, bits 3 and 1 are kept", () => {
    const m = Machine.create({ machine: "q35" });
    const requests: string[] = [];
    m.events.on("reset-request", (e) => requests.push(e.source));
    m.ioWrite(0xcf9, 1, 0x0f & ~4);
    expect(m.ioRead(0xcf9, 1)).toBe(0x0a);
    m.ioWrite(0xcf9, 1, 0x06);
    expect(requests).toEqual(["ich9-rst-cnt"]);
  });

  it("SMBus registers decode only while HST_EN is set; SSRESET clears them and itself", () => {
    const m = Machine.create({ machine: "q35" });
    m.configWrite(0, SMBUS, 0x20, 4, 0x701);
    m.configWrite(0, SMBUS, 0x04, 2, 1);
    expect(m.ioRead(0x703, 1)).toBe(0xff);
    m.configWrite(0, SMBUS, 0x40, 1, 1);
    m.ioWrite(0x703, 1, 0x5a);
    expect(m.ioRead(0x703, 1)).toBe(0x5a);
    m.configWrite(0, SMBUS, 0x40, 1, 0x09);
    expect([m.configRead(0, SMBUS, 0x40, 1), m.ioRead(0x703, 1)]).toEqual([0x01, 0x00]);
  });

  it("AHCI's generic host registers in BAR 5 and through the index/data pair in BAR 4", () => {
    const m = Machine.create({ machine: "q35" });
    m.configWrite(0, AHCI, 0x24, 4, 0xfebff000);
    m.configWrite(0, AHCI, 0x20, 4, 0xc041);
    m.configWrite(0, AHCI, 0x04, 2, 0x0003);
    const abar = (off: number) => m.memRead(0xfebff000 + off, 4);
    expect([abar(0x00), abar(0x04), abar(0x0c), abar(0x10)]).toEqual([0xc0141f05, 0x80000000, 0x3f, 0x10000]);
    m.ioWrite(0xc050, 4, 0x0c); // index: PI
    expect(m.ioRead(0xc054, 4)).toBe(0x3f);
  });
});

describe("q35 through the reports", () => {
  it("lspci -xxxx: 256 bytes for the conventional chipset, 4096 for a PCI Express function on pcie.0, and lspci decodes them", () => {
    const m = Machine.create({ machine: "q35", devices: ["test-pcie-endpoint"], drivers: [PcieEndpointTestDevice] });
    const dump = lspciDump(m, 4);
    const sizes = dump
      .trimEnd()
      .split("\n\n")
      .map((f) => [f.slice(0, 7), f.split("\n").length - 1]);
    expect(sizes).toEqual([
      ["00:00.0", 16],
      ["00:01.0", 256],
      ["00:1f.0", 16],
      ["00:1f.2", 16],
      ["00:1f.3", 16],
    ]);
    const file = join(mkdtempSync(join(tmpdir(), "machbus-q35-")), "dump");
    writeFileSync(file, dump);
    const decoded = execFileSync("lspci", ["-F", file, "-vv"], { encoding: "utf8" });
    expect(decoded).toContain("Express (v1) Root Complex Integrated Endpoint");
    expect(decoded).toContain("Capabilities: [100 v2] Advanced Error Reporting");
    expect(decoded).toContain("Capabilities: [140 v1] Device Serial Number 01-23-45-67-89-ab-cd-ef");
    expect(decoded).toContain(
      "00:1f.2 SATA controller: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] (rev 02)",
    );
  });

  it("query-pci: the chipset with QEMU's classes, ids and BARs", () => {
    const [bus] = queryPci(Machine.create({ machine: "q35" }));
    expect(
      bus!.devices.map((d) => [d.slot, d.function, d.class_info.desc, d.id.device, d.regions.map((r) => `${r.bar}:${r.type}:${r.size}`)]),
    ).toEqual([
      [0, 0, "Host bridge", 0x29c0, []],
      [31, 0, "ISA bridge", 0x2918, []],
      [31, 2, "SATA controller", 0x2922, ["4:io:32", "5:memory:4096"]],
      [31, 3, "SMBus", 0x2930, ["4:io:64"]],
    ]);
  });

  it("dump-config records pc-q35-7.2 and the devices on pcie.0; reloading builds the same machine", () => {
    const m = Machine.create({ machine: "q35", devices: ["e1000,id=n", "virtio-net-pci,id=v"] });
    const config = dumpMachineConfig(m);
    expect(config.machine.type).toBe("pc-q35-7.2");
    expect((config.devices ?? []).map((d) => [d.driver, d.bus, d.addr])).toEqual([
      ["e1000", "pcie.0", "01.0"],
      ["virtio-net-pci", "pcie.0", "02.0"],
    ]);
    const text = formatMachineConfig(config);
    const again = Machine.create(machineOptionsFromConfig(parseMachineConfig(text, "m.yaml"), "m.yaml"));
    expect(lspciDump(again, 4)).toBe(lspciDump(m, 4));
    expect(compareMachines(m, again)).toEqual([]);
    expect(compareMachines(m, Machine.create({ devices: ["e1000,id=n", "virtio-net-pci,id=v"] }))[0]).toBe(
      "machine type: pc-q35-7.2 on the source, pc-qemu-7.2 on the destination",
    );
  });

  /** A guest's work on q35: ECAM, the PM block, RCBA, a routed PIRQ, a BAR, SMM locks. */
  function program(m: Machine): void {
    m.configWrite(0, 0, 0x60, 4, 0xe0000001);
    m.configWrite(0, 0, 0x9c, 4, 0x00381aff); // F_SMBASE query; SMRAM enabled and locked
    m.configWrite(0, 0, 0x9c, 1, 0x02); // F_SMBASE locked
    m.configWrite(0, LPC, 0x40, 4, 0x601);
    m.configWrite(0, LPC, 0x44, 1, 0x80);
    m.configWrite(0, LPC, 0xf0, 4, 0xfed1c001);
    m.memWrite(0xfed1c000 + 0x3150, 2, 0x0123);
    m.configWrite(0, LPC, 0x60, 4, 0x8080800b);
    m.configWrite(0, SMBUS, 0x20, 4, 0x701);
    m.configWrite(0, SMBUS, 0x40, 1, 1);
    m.configWrite(0, SMBUS, 0x04, 2, 1);
    m.ioWrite(0x704, 1, 0x42);
    m.ioWrite(0x628, 1, 0x02);
    m.ioWrite(0xcf9, 1, 0x02);
  }

  /** What a guest of q35 could observe: config bytes, ECAM, the RCRB, the PM and SMBus blocks. */
  function observe(m: Machine): string {
    return [
      lspciDump(m, 4),
      m.memRead(0xe0000000, 4),
      m.memRead(0xe00f8000 + 0x40, 4),
      m.memRead(0xb0000000, 4),
      m.memRead(0xfed1c000 + 0x3150, 4),
      m.ioRead(0x628, 1),
      m.ioRead(0x704, 1),
      m.ioRead(0xcf9, 1),
      m.configRead(0, 0, 0x9c),
    ].join("\n");
  }

  it("a snapshot brings back config bytes, the ECAM window, the RCRB, PM, SMBus and reset control", () => {
    const src = Machine.create({ machine: "q35" });
    program(src);
    const dst = Machine.create({ machine: "q35" });
    dst.load(src.save());
    expect(observe(dst)).toBe(observe(src));
    // The locks came back with the bytes: SMRAM stays frozen on the destination.
    dst.configWrite(0, 0, 0x9c, 4, 0);
    expect(dst.configRead(0, 0, 0x9c)).toBe(src.configRead(0, 0, 0x9c));
  });

  it("migrates to a q35 destination; a pc destination can't comply", () => {
    const src = Machine.create({ machine: "q35", devices: ["e1000,id=n"] });
    program(src);
    const dst = receiveMigration(migrationStream(src));
    expect(observe(dst)).toBe(observe(src));
    const pc = parseMachineConfig(formatMachineConfig(dumpMachineConfig(Machine.create({ devices: ["e1000,id=n"] }))), "pc.yaml");
    expect(() => receiveMigration(migrationStream(src), { expect: pc })).toThrow(
      /can't comply with the source machine:\n {2}machine type: pc-q35-7.2/,
    );
  });

  it("fw_cfg serves q35's files: the SMI feature negotiation, and e820 with 2 GiB below 4 GiB from 2.75 GiB of RAM", () => {
    const files = (memory: string) => {
      const m = Machine.create({ machine: "q35", memory });
      const item = (key: number, n: number) => {
        m.ioWrite(0x510, 2, key);
        return Array.from({ length: n }, () => m.ioRead(0x511, 1));
      };
      const count = item(0x19, 4)[3]!;
      const dir = item(0x19, 4 + 64 * count).slice(4);
      return Object.fromEntries(
        Array.from({ length: count }, (_, i) => dir.slice(64 * i, 64 * i + 64)).map((e) => {
          const size = (e[2]! << 8) | e[3]!;
          return [String.fromCharCode(...e.slice(8)).replace(/\0+$/, ""), Buffer.from(item((e[4]! << 8) | e[5]!, size)).toString("hex")];
        }),
      );
    };
    const small = files("64M");
    expect(small["etc/smi/supported-features"]).toBe("0700000000000000");
    expect(small["etc/smi/features-ok"]).toBe("01");
    const big = files("3G");
    // RAM entry below 4 GiB: 0x80000000 bytes; the rest above.
    expect(big["etc/e820"]).toContain("0000000000000000" + "0000008000000000" + "01000000");
  });
});

describe("machbus on the command line with -M q35", () => {
  it("info pci equals QEMU's for the chipset; lspci -xxxx decodes with pciutils", () => {
    const r = machbus(["info", "pci", "-M", "q35"]);
    expect(r.stdout).toBe(readFileSync(`${Q35_FIXTURES}info-pci/chipset.txt`, "utf8"));
    const d = machbus(["lspci", "-xxxx", "-M", "pc-q35-7.2"]);
    expect(d.status).toBe(0);
    const file = join(mkdtempSync(join(tmpdir(), "machbus-q35-")), "dump");
    writeFileSync(file, d.stdout);
    expect(execFileSync("lspci", ["-F", file], { encoding: "utf8" })).toContain(
      "00:1f.3 SMBus: Intel Corporation 82801I (ICH9 Family) SMBus Controller (rev 02)",
    );
  });
});
