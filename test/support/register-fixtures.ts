import { readFileSync, readdirSync } from "node:fs";
import { expect } from "vitest";
import type { Machine } from "../../src/index.js";
import { QEMU_FIXTURES, machineFor } from "./qemu-fixtures.js";

// Register scenarios captured from QEMU by test/fixtures/qemu/regenerate-registers.mjs (format in
// test/fixtures/qemu/README.md), replayed here through a real machbus machine.

type Verb = "inb" | "inw" | "inl" | "outb" | "outw" | "outl" | "readb" | "readw" | "readl" | "writeb" | "writew" | "writel";
/** [verb, address, value written or read] and, for some reads, a label naming what was read. */
export type Access = [Verb, string, string] | [Verb, string, string, string];
/** [count, value]: `count` reads in a row gave `value`. */
type Run = [number, string];
interface ScanStep {
  scan: Verb;
  addr: string;
  count: number;
  stride: number;
  values: Run[];
}
interface WriteOnesStep {
  writeOnes: Verb;
  addr: string;
  count: number;
  stride: number;
  skip: string[];
  before: Run[];
  after: Run[];
}
export type Step = Access | ["system_reset"] | ["snapshot"] | ["hmp", string] | ["run", number] | ScanStep | WriteOnesStep;

export interface RegisterFixture {
  qemu: string;
  scenario: string;
  note: string;
  args: string[];
  machbusDevices?: string[];
  stderr: string;
  events: string[];
  steps: Step[];
}

export function loadRegisterFixture(name: string): RegisterFixture {
  return JSON.parse(readFileSync(`${QEMU_FIXTURES}registers/${name}.json`, "utf8")) as RegisterFixture;
}

export function registerFixtureNames(): string[] {
  return readdirSync(`${QEMU_FIXTURES}registers`)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5));
}

const sizeOf = (verb: Verb): 1 | 2 | 4 => ({ b: 1, w: 2, l: 4 })[verb.at(-1) as "b" | "w" | "l"] as 1 | 2 | 4;
const hexValue = (v: number, size: number): string => "0x" + (v >>> 0).toString(16).padStart(2 * size, "0");
const isRead = (verb: Verb): boolean => verb.startsWith("in") || verb.startsWith("read");

function encodeRuns(values: number[], size: number): Run[] {
  const out: Run[] = [];
  for (const v of values) {
    const last = out.at(-1);
    if (last && last[1] === hexValue(v, size)) last[0]++;
    else out.push([1, hexValue(v, size)]);
  }
  return out;
}

/** The values a run-length encoded list stands for. */
export function expandRuns(runs: readonly Run[]): number[] {
  return runs.flatMap(([count, v]) => Array<number>(count).fill(parseInt(v, 16)));
}

export interface ReplayOptions {
  /** The machbus equivalent of each HMP command the scenario gives QEMU ("balloon 64"). */
  hmp?: Record<string, (m: Machine) => void>;
}

/**
 * Performs a scenario's steps on a machbus machine built from the fixture's command line, with
 * real port and memory accesses (config cycles included), and returns the steps with machbus's
 * answers in place of QEMU's: equal to `fixture.steps` when machbus reads what QEMU read.
 * `["snapshot"]` saves the machine and goes on in a fresh one loaded from the stream;
 * `["run", ms]` does nothing (machbus devices have no timers: what QEMU does later, machbus did at once).
 */
export function replay(fixture: RegisterFixture, options: ReplayOptions = {}): { steps: Step[]; machine: Machine } {
  let m = machineFor(fixture);
  const access = (verb: Verb, addr: number, value = 0): number => {
    const size = sizeOf(verb);
    if (verb.startsWith("in")) return m.ioRead(addr, size);
    if (verb.startsWith("read")) return m.memRead(addr, size);
    if (verb.startsWith("out")) m.ioWrite(addr, size, value);
    else m.memWrite(addr, size, value);
    return 0;
  };
  const steps = fixture.steps.map((step): Step => {
    if (Array.isArray(step)) {
      switch (step[0]) {
        case "system_reset":
          m.reset();
          return step;
        case "snapshot": {
          const stream = m.save();
          m = machineFor(fixture);
          m.load(stream);
          return step;
        }
        case "run":
          return step;
        case "hmp": {
          const action = options.hmp?.[step[1]];
          if (!action) throw new Error(`${fixture.scenario}: no machbus equivalent given for HMP "${step[1]}"`);
          action(m);
          return step;
        }
        default: {
          const [verb, addr, value, label] = step;
          if (!isRead(verb)) {
            access(verb, parseInt(addr, 16), parseInt(value, 16));
            return step;
          }
          const read = hexValue(access(verb, parseInt(addr, 16)), sizeOf(verb));
          return label === undefined ? [verb, addr, read] : [verb, addr, read, label];
        }
      }
    }
    if ("scan" in step) {
      const base = parseInt(step.addr, 16);
      const values = Array.from({ length: step.count }, (_, i) => access(step.scan, base + i * step.stride));
      return { ...step, values: encodeRuns(values, sizeOf(step.scan)) };
    }
    const size = sizeOf(step.writeOnes);
    const write = ((step.writeOnes.startsWith("in") ? "out" : "write") + step.writeOnes.at(-1)) as Verb;
    const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const skip = new Set(step.skip.map((s) => parseInt(s, 16)));
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < step.count; i++) {
      if (skip.has(i * step.stride)) continue;
      const addr = parseInt(step.addr, 16) + i * step.stride;
      const b = access(step.writeOnes, addr);
      access(write, addr, ones);
      const a = access(step.writeOnes, addr);
      if (a !== b) access(write, addr, b);
      before.push(b);
      after.push(a);
    }
    return { ...step, before: encodeRuns(before, size), after: encodeRuns(after, size) };
  });
  return { steps, machine: m };
}

/**
 * Replays scenario `name` and expects every read to give QEMU's answer; returns QEMU's steps,
 * machbus's and the machine as the scenario left it.
 */
export function replayMatchesQemu(name: string, options?: ReplayOptions): { qemu: Step[]; steps: Step[]; machine: Machine } {
  const fixture = loadRegisterFixture(name);
  const { steps, machine } = replay(fixture, options);
  expect(steps).toEqual(fixture.steps);
  return { qemu: fixture.steps, steps, machine };
}

/** The values of the reads labelled `label`, in order. */
export function labelled(steps: readonly Step[], label: string): number[] {
  return steps.filter((s): s is Access => Array.isArray(s) && s[3] === label).map((s) => parseInt(s[2], 16));
}

/** The value of the one read labelled `label`. */
export function labelledOne(steps: readonly Step[], label: string): number {
  const values = labelled(steps, label);
  if (values.length !== 1) throw new Error(`${values.length} reads are labelled "${label}"`);
  return values[0]!;
}

/** The values each scan of a transcript read, scan by scan. */
export function scans(steps: readonly Step[]): number[][] {
  return steps.filter((s): s is ScanStep => !Array.isArray(s) && "scan" in s).map((s) => expandRuns(s.values));
}

/** The values of every single read (not scans), in order. */
export function readValues(steps: readonly Step[]): number[] {
  return steps.filter((s): s is Access => Array.isArray(s) && s.length >= 3 && isRead(s[0] as Verb)).map((s) => parseInt(s[2], 16));
}

/** The reads where two transcripts of one scenario differ: "label" or "verb address". */
export function differences(a: readonly Step[], b: readonly Step[]): string[] {
  return a.flatMap((step, i) => {
    const other = b[i];
    if (JSON.stringify(step) === JSON.stringify(other)) return [];
    return [Array.isArray(step) ? (step[3] ?? `${step[0]} ${step[1]}`) : JSON.stringify(step).slice(0, 40)];
  });
}
