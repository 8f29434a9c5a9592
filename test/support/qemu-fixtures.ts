import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
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
 * `images` are the sizes of the images the -drive options name (by file name), as QEMU saw them.
 */
export function machineFor(fixture: { args: string[]; machbusDevices?: string[]; images?: Record<string, number> }): Machine {
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
  const images = fixture.images ?? {};
  const imageSize = (file: string): number | undefined => images[file.slice(file.lastIndexOf("/") + 1)];
  return Machine.create({ machine, devices: fixture.machbusDevices ?? devices, memory, drives, imageSize });
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

/**
 * Where machbus's `info qtree` still differs from QEMU 7.2's on purpose or for want of a model:
 * each rewrites QEMU's text into what machbus prints (test/qtree.test.ts checks each is still needed).
 */
export const QTREE_DIFFERENCES: readonly { why: string; applies: (qemu: string) => boolean; rewrite: (qemu: string) => string }[] = [
  {
    why: "fw_cfg has no DMA interface in machbus (its ID says so; README: where machbus differs from QEMU)",
    applies: (q) => /dev: fw_cfg_io, id ""\n {4}dma_enabled = true\n/.test(q),
    rewrite: (q) => q.replace(/(dev: fw_cfg_io, id ""\n {4}dma_enabled = )true\n/, "$1false\n"),
  },
  {
    why: "pci-bridge's firmware reservation hints are not modelled (as its -device help says)",
    applies: (q) => q.includes("bus-reserve = "),
    rewrite: (q) => q.replace(/ +(bus|io|mem|pref32|pref64)-reserve = .*\n/g, ""),
  },
];

/** QEMU's `info qtree` text with the known differences applied. */
export function qtreeAsMachbusPrintsIt(qemu: string): string {
  return QTREE_DIFFERENCES.filter((d) => d.applies(qemu)).reduce((text, d) => d.rewrite(text), qemu);
}

// ---------------------------------------------------------------- q35 (test/fixtures/qemu/q35)

export const Q35_FIXTURES = `${QEMU_FIXTURES}q35/`;

/** The ECAM part of a q35 config fixture (see test/fixtures/qemu/q35/README.md). */
export interface EcamFixture {
  setup: string[];
  enable: string[];
  mmcfg: { base: string; size: string } | null;
  present: string[];
  absentSample: Record<string, { "0x000": string; "0x100": string }>;
  skipped: { bdf: string; offset: string }[];
  functions: { bdf: string; reset: string[]; writeOnes: (string | null)[] }[];
}

export interface Q35ConfigFixture extends ConfigFixture {
  events: { event: string; data?: unknown }[];
  ecam?: EcamFixture;
}

export function q35FixtureNames(): string[] {
  return readdirSync(`${Q35_FIXTURES}config`)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function loadQ35Fixture(name: string): Q35ConfigFixture {
  return JSON.parse(readFileSync(`${Q35_FIXTURES}config/${name}.json`, "utf8")) as Q35ConfigFixture;
}

export function readQ35Text(relative: string): string {
  return readFileSync(Q35_FIXTURES + relative, "utf8");
}

/**
 * Runs one qtest command of a fixture on the machine, as QEMU's qtest does it, and returns the
 * answer in QEMU's spelling: `OK`, or `OK 0x...` (ports at least 4 hex digits, memory 16).
 */
export function runQtest(m: Machine, command: string): string {
  const [op, a, b] = command.split(" ") as [string, string, string | undefined];
  const addr = parseInt(a, 16);
  const size = ({ b: 1, w: 2, l: 4, q: 8 } as const)[op.slice(-1) as "b" | "w" | "l" | "q"];
  const value = b === undefined ? 0 : parseInt(b, 16);
  if (op.startsWith("out")) {
    m.ioWrite(addr, size as 1 | 2 | 4, value);
    return "OK";
  }
  if (op.startsWith("in"))
    return `OK 0x${m
      .ioRead(addr, size as 1 | 2 | 4)
      .toString(16)
      .padStart(4, "0")}`;
  if (op.startsWith("write")) {
    if (size === 8) throw new Error(`writeq is not used by the fixtures: ${command}`);
    m.memWrite(addr, size, value);
    return "OK";
  }
  if (op.startsWith("read")) {
    // A 64-bit read is two 32-bit ones: QEMU's memory core splits it so for regions taking 4 bytes at most.
    const v = size === 8 ? (BigInt(m.memRead(addr + 4, 4)) << 32n) | BigInt(m.memRead(addr, 4)) : BigInt(m.memRead(addr, size));
    return `OK 0x${v.toString(16).padStart(16, "0")}`;
  }
  throw new Error(`unsupported qtest command ${command}`);
}

/** The value of a qtest answer. */
export const qtestValue = (answer: string): number => Number(BigInt(answer.slice(3)) & 0xffffffffn);

/**
 * Replays the ECAM protocol of a q35 fixture on a fresh machine: setup and MMCONFIG enable
 * through mechanism #1, the ECAM scan, absent samples, then reset and write-ones of every
 * dword of the fixture's functions, through the memory space.
 */
export function replayEcamProtocol(m: Machine, ecam: EcamFixture) {
  for (const c of [...ecam.setup, ...ecam.enable]) runQtest(m, c);
  const base = Number(ecam.mmcfg!.base);
  const address = (bdf: string, off: number): number => {
    const { bus, devfn } = bdfParts(bdf);
    return base + bus * 0x100000 + devfn * 0x1000 + off;
  };
  const present: string[] = [];
  const buses = [...new Set(ecam.present.map((b) => bdfParts(b).bus))].sort((x, y) => x - y);
  for (const bus of buses) {
    for (let devfn = 0; devfn < 256; devfn++) {
      const bdf = `${bus.toString(16).padStart(2, "0")}:${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7}`;
      if (m.memRead(address(bdf, 0), 4) !== 0xffffffff) present.push(bdf);
    }
  }
  const absentSample: Record<string, { "0x000": string; "0x100": string }> = {};
  for (const bdf of Object.keys(ecam.absentSample)) {
    absentSample[bdf] = { "0x000": hex32(m.memRead(address(bdf, 0), 4)), "0x100": hex32(m.memRead(address(bdf, 0x100), 4)) };
  }
  const resets = ecam.functions.map((f) => Array.from({ length: 1024 }, (_, i) => hex32(m.memRead(address(f.bdf, 4 * i), 4))));
  const functions = ecam.functions.map((f, k) => {
    const skip = new Set(ecam.skipped.filter((s) => s.bdf === f.bdf).map((s) => Number(s.offset)));
    const writeOnes = resets[k]!.map((reset, i) => {
      if (skip.has(4 * i)) return null;
      const a = address(f.bdf, 4 * i);
      m.memWrite(a, 4, 0xffffffff);
      const v = hex32(m.memRead(a, 4));
      m.memWrite(a, 4, parseInt(reset, 16));
      return v;
    });
    return { bdf: f.bdf, reset: resets[k]!, writeOnes };
  });
  return { present, absentSample, functions };
}

/** One step of a q35 transcript (test/fixtures/qemu/q35/README.md, "Transcripts"). */
export type TranscriptStep = { note?: string; events?: { event: string; data?: unknown }[] } & (
  | { qtest: string; answer: string }
  | { mmcfg: { base: string; size: string; priority: number } | null }
  | { qmp: string; arguments?: Record<string, string>; return?: unknown; error?: { class: string; desc: string } }
  | { hmp: string; output: string }
);

export interface Transcript {
  args: string[];
  devices: string[];
  steps: TranscriptStep[];
}

export function loadTranscript(name: string): Transcript {
  return JSON.parse(readQ35Text(`transcripts/${name}.json`)) as Transcript;
}

/**
 * For each step, the MMCONFIG window QEMU had while it ran: the next `mmcfg` step's (a
 * transcript records the mapping after the accesses that depend on it), or after the last one,
 * that one's.
 */
export function mmcfgDuring(steps: readonly TranscriptStep[]): ({ base: number; size: number } | null)[] {
  type Window = { base: number; size: number } | null;
  const windowOf = (s: TranscriptStep): Window | undefined =>
    "mmcfg" in s ? (s.mmcfg ? { base: Number(s.mmcfg.base), size: Number(s.mmcfg.size) } : null) : undefined;
  const last =
    steps
      .map(windowOf)
      .filter((w) => w !== undefined)
      .pop() ?? null;
  const out: Window[] = new Array(steps.length).fill(last);
  let next: Window | undefined;
  for (let i = steps.length - 1; i >= 0; i--) {
    const here = windowOf(steps[i]!);
    if (here !== undefined) next = here;
    if (next !== undefined) out[i] = next;
  }
  return out;
}

interface ProtocolResult {
  present: string[];
  absentSample: Record<string, unknown>;
  functions: { bdf: string; reset: readonly (string | null)[]; writeOnes: readonly (string | null)[] }[];
}

/** A replayed config protocol equals the fixture's: present functions, absent samples, every function's dwords. */
export function expectSameConfig(got: ProtocolResult, want: ProtocolResult): void {
  expect(got.present).toEqual(want.present);
  expect(got.absentSample).toEqual(want.absentSample);
  for (const w of want.functions) {
    const g = got.functions.find((f) => f.bdf === w.bdf)!;
    expect({ bdf: w.bdf, reset: g.reset }).toEqual({ bdf: w.bdf, reset: w.reset });
    expect({ bdf: w.bdf, writeOnes: g.writeOnes }).toEqual({ bdf: w.bdf, writeOnes: w.writeOnes });
  }
}
