import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Machine } from "../../src/index.js";

/** test/fixtures/qemu, where regenerate.mjs writes what real QEMU 7.2 showed. */
export const QEMU_FIXTURES = fileURLToPath(new URL("../fixtures/qemu/", import.meta.url));

export interface ConfigFixture {
  qemu: string;
  args: string[];
  machine: string;
  devices: string[];
  setup?: string[];
  present: string[];
  absentSample: Record<string, string>;
  functions: { bdf: string; reset: string[]; writeOnes: string[] }[];
}

export function loadConfigFixture(name: string): ConfigFixture {
  return JSON.parse(readFileSync(`${QEMU_FIXTURES}config/${name}.json`, "utf8")) as ConfigFixture;
}

/** monitor/hotplug-*.json: QMP device_add (or HMP port writes) step by step, and what bus 0 showed after each. */
export interface HotplugFixture {
  qemu: string;
  args: string[];
  steps: {
    note: string;
    deviceAdd?: { driver: string } & Record<string, string | boolean>;
    hmp?: string[];
    result: { ok: boolean; error?: { class: string; desc: string } };
    present?: string[];
    dwords?: Record<string, Record<string, string>>;
    infoPci?: string;
  }[];
}

export function loadHotplugFixture(name: string): HotplugFixture {
  return JSON.parse(readFileSync(`${QEMU_FIXTURES}monitor/${name}.json`, "utf8")) as HotplugFixture;
}

/** A config dword QEMU showed: its reset value or what it read back after all ones were written. */
export function configDword(name: string, kind: "reset" | "writeOnes", offset: number, bdf = "00:02.0"): number {
  const fn = loadConfigFixture(name).functions.find((f) => f.bdf === bdf);
  if (!fn) throw new Error(`config fixture ${name} has no function ${bdf}`);
  return parseInt(fn[kind][offset >> 2]!, 16) >>> 0;
}

export function configFixtureNames(): string[] {
  return readdirSync(`${QEMU_FIXTURES}config`)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5));
}

export function readText(relative: string): string {
  return readFileSync(QEMU_FIXTURES + relative, "utf8");
}

/**
 * The machbus machine for a fixture's QEMU command line (-M, -device, -drive, -m); a register
 * fixture's `machbusDevices` replace the -device list where QEMU reads a fact from the host.
 */
export function machineFor(fixture: { args: string[]; machbusDevices?: string[] }): Machine {
  const devices: string[] = [];
  const drives: string[] = [];
  let machine: string | undefined;
  let memory: string | undefined;
  for (let i = 0; i < fixture.args.length; i++) {
    const a = fixture.args[i];
    if (a === "-M" || a === "-machine") machine = fixture.args[++i];
    else if (a === "-device") devices.push(fixture.args[++i]!);
    else if (a === "-drive") drives.push(fixture.args[++i]!);
    else if (a === "-m") memory = fixture.args[++i];
  }
  return Machine.create({ machine, devices: fixture.machbusDevices ?? devices, memory, drives });
}

export function bdfParts(bdf: string): { bus: number; devfn: number } {
  const [bus, rest] = bdf.split(":") as [string, string];
  const [slot, fn] = rest.split(".") as [string, string];
  return { bus: parseInt(bus, 16), devfn: (parseInt(slot, 16) << 3) | parseInt(fn, 10) };
}

export const hex32 = (v: number): string => "0x" + (v >>> 0).toString(16).padStart(8, "0");

/** Runs an HMP `o /w PORT VALUE` line of a fixture's setup through the machine's I/O space. */
export function runSetup(m: Machine, lines: readonly string[] = []): void {
  for (const line of lines) {
    const match = /^o \/w (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(line);
    if (!match) throw new Error(`unsupported setup line ${line}`);
    m.ioWrite(parseInt(match[1]!, 16), 4, parseInt(match[2]!, 16));
  }
}

/**
 * Replays the fixture protocol through real config cycles (0xCF8 latch, 0xCFC data): all
 * dwords of every function, then per dword: write all ones, read back, restore.
 */
export function replayConfigProtocol(m: Machine, fixture: ConfigFixture) {
  runSetup(m, fixture.setup);
  const cycle = (bus: number, devfn: number, off: number) => {
    m.ioWrite(0xcf8, 4, (0x80000000 | (bus << 16) | (devfn << 8) | off) >>> 0);
  };
  const present: string[] = [];
  const scanned = new Set(fixture.present.map((b) => bdfParts(b).bus));
  for (const bus of [...scanned].sort((a, b) => a - b)) {
    for (let devfn = 0; devfn < 256; devfn++) {
      cycle(bus, devfn, 0);
      if (m.ioRead(0xcfc, 4) !== 0xffffffff)
        present.push(`${bus.toString(16).padStart(2, "0")}:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`);
    }
  }
  const absent: Record<string, string> = {};
  for (const bdf of Object.keys(fixture.absentSample)) {
    const { bus, devfn } = bdfParts(bdf);
    cycle(bus, devfn, 0);
    absent[bdf] = hex32(m.ioRead(0xcfc, 4));
  }
  const functions = fixture.present.map((bdf) => {
    const { bus, devfn } = bdfParts(bdf);
    const reset: string[] = [];
    for (let off = 0; off < 256; off += 4) {
      cycle(bus, devfn, off);
      reset.push(hex32(m.ioRead(0xcfc, 4)));
    }
    return { bdf, bus, devfn, reset };
  });
  const result = functions.map(({ bdf, bus, devfn, reset }) => {
    const writeOnes: string[] = [];
    for (let off = 0; off < 256; off += 4) {
      cycle(bus, devfn, off);
      m.ioWrite(0xcfc, 4, 0xffffffff);
      writeOnes.push(hex32(m.ioRead(0xcfc, 4)));
      m.ioWrite(0xcfc, 4, parseInt(reset[off / 4]!, 16));
    }
    return { bdf, reset, writeOnes };
  });
  return { present, absentSample: absent, functions: result };
}
