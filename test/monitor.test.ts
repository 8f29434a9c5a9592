import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { Monitor } from "../src/monitor/monitor.js";
import { machbus } from "./support/cli.js";
import { QEMU_FIXTURES } from "./support/qemu-fixtures.js";

interface Transcript {
  transcript: { command: string; output: string }[];
}

describe("monitor", () => {
  it("prints QEMU's lines for the acceptance session (CLI, stdin)", () => {
    const r = machbus(["monitor"], "o /w 0xcf8 0x80000000\ni /w 0xcfc\ni /h 0xcfe\ni /b 0xcfc\nquit\n");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("portl[0x0cfc] = 0x12378086\nportw[0x0cfe] = 0x1237\nportb[0x0cfc] = 0x86\n");
  });

  it("replays QEMU 7.2's 0xCF6-0xD03 transcript line for line", () => {
    const { transcript } = JSON.parse(readFileSync(`${QEMU_FIXTURES}monitor/chipset-ports.json`, "utf8")) as Transcript;
    const monitor = new Monitor(Machine.create({ machine: "pc-i440fx-7.2" }));
    let compared = 0;
    for (const { command, output } of transcript) {
      const got = monitor.execute(command).output;
      // machbus refuses ports above 0xffff where QEMU silently wraps them to port 0.
      if (command === "i /w 0x10000") {
        expect(got).toBe("port 0x10000 is out of range (0x0000-0xffff)\n");
        continue;
      }
      expect({ command, output: got }).toEqual({ command, output });
      compared++;
    }
    expect(compared).toBe(transcript.length - 1);
  });

  it("bad lines print an error, the loop goes on, and the machine is unchanged", () => {
    const m = Machine.create();
    const monitor = new Monitor(m);
    monitor.execute("o /w 0xcf8 0x80000004");
    const before = [...m.rootBus].map((fn) => Uint8Array.from(fn.space.config));
    for (const [line, text] of [
      ["i /l 0xcfc", "invalid char in format: 'l'\nTry \"help i\" for more information\n"],
      ["o /w 0xcf8", 'unexpected end of expression\nTry "help o" for more information\n'],
      ["i /w 0x10000", "port 0x10000 is out of range (0x0000-0xffff)\n"],
      ["o /w 0x10000 1", "port 0x10000 is out of range (0x0000-0xffff)\n"],
      ["device_add nosuch", "Error: 'nosuch' is not a valid device model name (valid: "],
    ] as const) {
      const r = monitor.execute(line);
      expect(r.output.startsWith(text)).toBe(true);
      expect(r.quit).toBe(false);
    }
    expect(m.host.latch).toBe(0x80000004);
    expect([...m.rootBus].map((fn) => Uint8Array.from(fn.space.config))).toEqual(before);
    expect(monitor.execute("i /w 0xcfc").output).toBe("portl[0x0cfc] = 0x00000000\n");
  });

  it("device_add and device_del change the machine; info pci shows it", () => {
    const monitor = new Monitor(Machine.create());
    expect(monitor.execute("device_add pci-bridge,id=br0,chassis_nr=3").output).toBe("");
    expect(monitor.execute("info pci").output).toContain("PCI bridge: PCI device 1b36:0001");
    expect(monitor.execute("device_del br0").output).toBe("");
    expect(monitor.execute("info pci").output).not.toContain("1b36:0001");
    expect(monitor.execute("device_del br0").output).toBe("Error: Device 'br0' not found\n");
  });

  it("savevm in one CLI session, loadvm in a new one: every config byte of the e1000 and its BAR mappings are back", () => {
    const snap = join(mkdtempSync(join(tmpdir(), "machbus-")), "e1000.snap");
    const E1000 = 0x80001000; // 00:02.0
    const dumpConfig = Array.from({ length: 64 }, (_, i) => `o /w 0xcf8 0x${(E1000 + 4 * i).toString(16)}\ni /w 0xcfc\n`).join("");
    const probeBars = "i /w 0xc000\ni /w 0xcf8\n"; // the I/O BAR reads 0 once mapped; unassigned ports read all ones
    const program = [
      `o /w 0xcf8 0x${(E1000 + 0x10).toString(16)}`,
      "o /w 0xcfc 0xfebc0000", // BAR0: registers
      `o /w 0xcf8 0x${(E1000 + 0x14).toString(16)}`,
      "o /w 0xcfc 0xc001", // BAR1: I/O
      `o /w 0xcf8 0x${(E1000 + 0x3c).toString(16)}`,
      "o /b 0xcfc 0x0b", // interrupt line
      `o /w 0xcf8 0x${(E1000 + 0x04).toString(16)}`,
      "o /h 0xcfc 0x0007", // I/O, memory, bus master
    ].join("\n");
    const first = machbus(["monitor", "--device", "e1000"], `${program}\n${dumpConfig}${probeBars}info pci\nsavevm ${snap}\nquit\n`);
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain("BAR0: 32 bit memory at 0xfebc0000 [0xfebdffff].");
    expect(first.stdout).toContain("BAR1: I/O at 0xc000 [0xc03f].");

    const second = machbus(["monitor", "--device", "e1000"], `${probeBars}loadvm ${snap}\n${dumpConfig}${probeBars}info pci\nquit\n`);
    expect(second.stderr).toBe("");
    const beforeLoad = "portl[0xc000] = 0xffffffff\nportl[0x0cf8] = 0x00000000\n";
    expect(second.stdout.startsWith(beforeLoad)).toBe(true);
    expect(second.stdout.slice(beforeLoad.length)).toBe(first.stdout);
    expect(first.stdout).toContain("portl[0xc000] = 0x00000000\n");
  });
});
