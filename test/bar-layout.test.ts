import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, builtinDrivers } from "../src/index.js";
import { parseDeviceSpec } from "../src/machine/device-spec.js";
import { LayoutError, applyBarLayout, assignBarLayout, planBarLayout, type BarLayout } from "../src/layout/bar-layout.js";
import { formatInfoPci } from "../src/monitor/info-pci.js";
import { machbus } from "./support/cli.js";
import { machineFor } from "./support/qemu-fixtures.js";

/**
 * The host-side layout must give the addresses SeaBIOS gives. test/fixtures/seabios holds real
 * QEMU 7.2 + SeaBIOS 1.16.2 boots (regenerate.mjs): each log's allocation lines, and the BARs and
 * bridge windows left in config space, are compared with planBarLayout of the same command line.
 */
const FIXTURES = new URL("./fixtures/seabios/", import.meta.url);
const LAYOUT_LINE = /^PCI: (IO: |32: |64: |map device |secondary bus \d+ size )/;
const PANIC_LINE = /^PCI: out of (I\/O|32bit) address space$/;

interface AfterBoot {
  args: string[];
  stoppedAt: string;
  functions: Record<string, string[]>;
  /** QEMU's `info pci` at the marker. */
  infoPci: string[];
}

const all = readdirSync(new URL("after-boot/", FIXTURES))
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();
/** Scenarios with device models machbus does not have yet (q35's PCI Express devices): their machines cannot be built. */
const buildable = (name: string): boolean => {
  const { devices } = JSON.parse(readFileSync(new URL(`after-boot/${name}.json`, FIXTURES), "utf8")) as { devices: string[] };
  return devices.every((d) => builtinDrivers.has(parseDeviceSpec(d).driver));
};
const scenarios = all.filter(buildable);

/**
 * BARs SeaBIOS rewrites after its allocation pass, in its device init: ICH9's SMBus base goes to
 * 0x700 (ich9_smbus_setup), whatever the layout gave BAR 4.
 */
const REWRITTEN_AFTER_LAYOUT = new Set(["8086:2930 bar 4"]);

/** A function's vendor:device, as REWRITTEN_AFTER_LAYOUT names it. */
function id(fixture: AfterBoot, bdf: string): string {
  const v = dword(fixture, bdf, 0);
  return `${(v & 0xffff).toString(16).padStart(4, "0")}:${(v >>> 16).toString(16).padStart(4, "0")}`;
}

function dword(fixture: AfterBoot, bdf: string, offset: number): number {
  return parseInt(fixture.functions[bdf]![offset / 4]!, 16);
}

/** A bridge window as SeaBIOS left its registers: [base, limit]. */
function programmedWindow(fixture: AfterBoot, bdf: string, type: string): [number, number] {
  const d = (off: number): number => dword(fixture, bdf, off);
  if (type === "io") {
    const r = d(0x1c);
    const upper = d(0x30);
    return [((r & 0xf0) << 8) + (upper & 0xffff) * 0x10000, (((r >>> 8) & 0xf0) << 8) + (upper >>> 16) * 0x10000 + 0xfff];
  }
  const r = d(type === "mem" ? 0x20 : 0x24);
  const [hiBase, hiLimit] = type === "mem" ? [0, 0] : [d(0x28), d(0x2c)];
  return [(r & 0xfff0) * 0x10000 + hiBase * 2 ** 32, ((r >>> 16) & 0xfff0) * 0x10000 + 0xfffff + hiLimit * 2 ** 32];
}

/** A BAR's address as SeaBIOS left it (type bits masked; the ROM BAR at 0x30, or 0x38 on a bridge). */
function programmedBar(fixture: AfterBoot, bdf: string, bar: number, type: string, is64: boolean): number {
  const bridge = ((dword(fixture, bdf, 0x0c) >>> 16) & 0x7f) === 1;
  const offset = bar === 6 ? (bridge ? 0x38 : 0x30) : 0x10 + 4 * bar;
  const low = dword(fixture, bdf, offset);
  const masked = bar === 6 ? low & ~0x7ff : type === "io" ? low & ~0x3 : low & ~0xf;
  return (masked >>> 0) + (is64 ? dword(fixture, bdf, offset + 4) * 2 ** 32 : 0);
}

describe("BAR layout against SeaBIOS on QEMU (every scenario in test/fixtures/seabios)", () => {
  it("builds every scenario's machine, q35's PCI Express ones included", () => {
    expect(all.filter((n) => !buildable(n))).toEqual([]);
  });

  it("covers the cases that matter", () => {
    // I/O at 0x1000, the 64-bit window, RAM-dependent holes, closed windows, both panics.
    for (const s of [
      "bridges-io-low",
      "bridges-64bit",
      "ram-5g-64bit",
      "ram-2560m",
      "pc-1.7-ram-3840m",
      "bridge-shpc-off",
      "exhausted-32bit",
      "exhausted-io",
    ]) {
      expect(scenarios).toContain(s);
    }
  });

  for (const name of scenarios) {
    describe(name, () => {
      const fixture = JSON.parse(readFileSync(new URL(`after-boot/${name}.json`, FIXTURES), "utf8")) as AfterBoot;
      const log = readFileSync(new URL(`logs/${name}.log`, FIXTURES), "latin1").split("\n");
      let layout: BarLayout;
      const plan = (): BarLayout => (layout ??= planBarLayout(machineFor(fixture)));

      it("prints SeaBIOS's allocation lines, in its order", () => {
        expect(plan().log).toEqual(log.filter((l) => LAYOUT_LINE.test(l)));
      });

      if (PANIC_LINE.test(fixture.stoppedAt)) {
        it(`does not fit where SeaBIOS panics (${fixture.stoppedAt})`, () => {
          expect(plan().fits).toBe(false);
          expect(plan().failure!.window).toBe(fixture.stoppedAt.includes("I/O") ? "io" : "mem32");
        });
        return;
      }

      it("every BAR holds the address SeaBIOS wrote", () => {
        expect(plan().fits).toBe(true);
        const bars = plan().bars.filter((b) => !REWRITTEN_AFTER_LAYOUT.has(`${id(fixture, b.bdf)} bar ${b.bar}`));
        const got = bars.map((b) => `${b.bdf} bar ${b.bar} ${programmedBar(fixture, b.bdf, b.bar, b.type, b.is64).toString(16)}`);
        expect(got).toEqual(bars.map((b) => `${b.bdf} bar ${b.bar} ${b.address.toString(16)}`));
      });

      it("every bridge window is programmed as SeaBIOS did", () => {
        for (const w of plan().bridgeWindows) {
          expect(programmedWindow(fixture, w.bdf, w.type), `${w.bdf} ${w.type}`).toEqual([w.base, w.base + w.size - 1]);
        }
      });

      it("applyBarLayout leaves bus numbers, BARs, windows and decode enables as SeaBIOS left them, read back through config cycles", () => {
        const m = machineFor(fixture);
        const layout = applyBarLayout(m);
        const read = (bdf: string, offset: number): number => {
          const [bus, dev, fn] = bdf.split(/[:.]/).map((x) => parseInt(x, 16)) as [number, number, number];
          return m.configRead(bus, (dev << 3) | fn, offset);
        };
        const programmed: AfterBoot = { ...fixture, functions: {} };
        for (const bdf of Object.keys(fixture.functions)) {
          programmed.functions[bdf] = Array.from({ length: 64 }, (_, i) => `0x${read(bdf, 4 * i).toString(16)}`);
        }
        const bars = layout.bars.filter((b) => !REWRITTEN_AFTER_LAYOUT.has(`${id(fixture, b.bdf)} bar ${b.bar}`));
        for (const b of bars) {
          expect(programmedBar(programmed, b.bdf, b.bar, b.type, b.is64), `${b.bdf} bar ${b.bar}`).toBe(
            programmedBar(fixture, b.bdf, b.bar, b.type, b.is64),
          );
        }
        for (const w of layout.bridgeWindows) {
          expect(programmedWindow(programmed, w.bdf, w.type), `${w.bdf} ${w.type}`).toEqual(programmedWindow(fixture, w.bdf, w.type));
        }
        // Interrupt lines and the BARs chipset set-up rewrites are firmware's other work, not the layout's.
        const layoutLines = (lines: string[]): string[] => {
          let device = "";
          return lines.filter((l) => {
            device = /PCI device ([0-9a-f]{4}:[0-9a-f]{4})/.exec(l)?.[1] ?? device;
            const bar = /^ {6}BAR(\d):/.exec(l);
            return !/^ {6}IRQ /.test(l) && !(bar && REWRITTEN_AFTER_LAYOUT.has(`${device} bar ${bar[1]}`));
          });
        };
        expect(layoutLines(formatInfoPci(m).trimEnd().split("\n"))).toEqual(layoutLines(fixture.infoPci));
        for (const bdf of Object.keys(fixture.functions)) {
          const bridge = ((dword(fixture, bdf, 0x0c) >>> 16) & 0x7f) === 1;
          // Command: I/O, memory, SERR#; a bridge's bus numbers and SERR# forwarding.
          const registers = (f: AfterBoot) => [
            dword(f, bdf, 0x04) & 0x0103,
            bridge ? dword(f, bdf, 0x18) & 0xffffff : 0,
            bridge ? (dword(f, bdf, 0x3c) >>> 16) & 0x0002 : 0,
          ];
          expect(registers(programmed), bdf).toEqual(registers(fixture));
        }
      });
    });
  }
});

describe("BAR layout reports", () => {
  it("e1000 + virtio-net-pci with 64 MiB: the addresses SeaBIOS assigns, in the board's windows", () => {
    const layout = assignBarLayout(Machine.create({ devices: ["e1000", "virtio-net-pci"], memory: "64M" }));
    expect(layout.bars.map((b) => [b.bdf, b.bar, b.address, b.size, b.window])).toEqual([
      ["00:02.0", 1, 0xc000, 0x40, "io"],
      ["00:03.0", 0, 0xc040, 0x20, "io"],
      ["00:01.1", 4, 0xc060, 0x10, "io"],
      ["00:02.0", 6, 0xfeb40000, 0x40000, "mem32"],
      ["00:03.0", 6, 0xfeb80000, 0x40000, "mem32"],
      ["00:02.0", 0, 0xfebc0000, 0x20000, "mem32"],
      ["00:03.0", 1, 0xfebe0000, 0x1000, "mem32"],
      ["00:03.0", 4, 0xfebfc000, 0x4000, "mem32"],
    ]);
    const mem32 = layout.windows.find((w) => w.name === "mem32")!;
    expect(mem32).toMatchObject({ start: 0x80000000, end: 0xfebfffff, used: 0xa5000, requested: 0xa5000 });
    // The hole is free from its base up to the first BAR.
    expect(mem32.largestFree).toBe(0xfeb40000 - 0x80000000);
  });

  it("too many large BARs: an error naming the device, the BAR and the window, with the usage report", () => {
    const m = Machine.create({
      devices: ["e1000,id=a,romsize=0x40000000", "e1000,id=b,romsize=0x40000000", "e1000,id=c,romsize=0x40000000"],
    });
    let error: unknown;
    try {
      assignBarLayout(m);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LayoutError);
    const layout = (error as LayoutError).layout;
    expect((error as LayoutError).message).toBe(
      "e1000,id=a at 00:02.0: BAR 6 (mem, 1 GiB) does not fit in the 32-bit PCI hole 0x80000000-0xfebfffff: 3 GiB asked for, 2028 MiB there",
    );
    const mem32 = layout.windows.find((w) => w.name === "mem32")!;
    // Packed down from the top, the last ROM and the small BARs fit; 1004 MiB stay free, no 1 GiB block.
    expect(mem32.used).toBe(2 ** 30 + 3 * 0x20000);
    expect(mem32.largestFree).toBeLessThan(2 ** 30);
  });

  it("machbus layout prints the table; --json the layout; an impossible layout exits 1 with the report", () => {
    const ok = machbus(["layout", "--device", "e1000", "--device", "virtio-net-pci", "--memory", "64M"]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ {2}00:03\.0 +virtio-net-pci +BAR4 +prefmem +64-bit +0xfebfc000 +16 KiB$/m);
    const json = JSON.parse(machbus(["layout", "--device", "e1000", "--json"]).stdout) as BarLayout;
    expect(json.bars.find((b) => b.bdf === "00:02.0" && b.bar === 0)!.address).toBe(0xfebc0000);
    const full = machbus(["layout", ...["a", "b", "c"].flatMap((id) => ["--device", `e1000,id=${id},romsize=0x40000000`])]);
    expect(full.status).toBe(1);
    expect(full.stderr).toBe(
      "machbus: e1000,id=a at 00:02.0: BAR 6 (mem, 1 GiB) does not fit in the 32-bit PCI hole 0x80000000-0xfebfffff: 3 GiB asked for, 2028 MiB there\n",
    );
    expect(full.stdout).toMatch(/^mem32 +0x80000000-0xfebfffff +2028 MiB +1 GiB +3 GiB +/m);
  });

  it("machbus info pci --firmware-layout shows the machine as firmware leaves it; one that does not fit exits 1 and prints nothing", () => {
    const devices = ["--device", "pci-bridge,id=b,chassis_nr=1", "--device", "rtl8139,bus=b,addr=5"];
    const before = machbus(["info", "pci", ...devices]);
    expect(before.stdout).not.toContain("Bus  1,");
    const after = machbus(["info", "pci", "--firmware-layout", ...devices]);
    expect(after.status).toBe(0);
    const m = Machine.create({ devices: ["pci-bridge,id=b,chassis_nr=1", "rtl8139,bus=b,addr=5"] });
    applyBarLayout(m);
    expect(after.stdout).toBe(formatInfoPci(m));
    expect(after.stdout).toMatch(
      /^ {2}Bus {2}1, device {3}5, function 0:\n {4}Ethernet controller: PCI device 10ec:8139\n(.*\n)* {6}BAR0: I\/O at 0xc000 \[0xc0ff\]\.$/m,
    );
    const full = machbus([
      "info",
      "pci",
      "--firmware-layout",
      ...["a", "b", "c"].flatMap((id) => ["--device", `e1000,id=${id},romsize=0x40000000`]),
    ]);
    expect([full.status, full.stdout]).toEqual([1, ""]);
    expect(full.stderr).toMatch(/^machbus: e1000,id=a at 00:02\.0: BAR 6 \(mem, 1 GiB\) does not fit in the 32-bit PCI hole/);
  });
});
