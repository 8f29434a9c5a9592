import fc from "fast-check";
import { Machine, builtinDrivers, driverInfo, type PciFunction } from "../src/index.js";
import { planBarLayout } from "../src/layout/bar-layout.js";
import { Monitor } from "../src/monitor/monitor.js";
import { dumpMachineConfig, formatMachineConfig, machineOptionsFromConfig, parseMachineConfig } from "../src/state/machine-config.js";
import {
  check,
  checkCapabilityList,
  configFingerprint,
  expectUnchanged,
  fingerprint,
  functions,
  guard,
  InvariantError,
} from "./support.js";

/**
 * One input surface: inputs (a fast-check arbitrary) and the invariants every input must keep.
 * `run` throws an InvariantError (or anything but a MachbusError) when one breaks. Cheap surfaces
 * cost microseconds a case; the others build, save or load machines.
 */
export interface Surface<T = any> {
  readonly name: string;
  readonly cheap: boolean;
  readonly description: string;
  readonly arbitrary: fc.Arbitrary<T>;
  run(input: T): void;
}

/** Names a plain JavaScript object inherits: a lookup by a user's name must never find them. */
const PROTOTYPE_NAMES = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__"];
const DRIVERS = [...builtinDrivers].map((cls) => driverInfo(cls));
const DRIVER_NAMES = DRIVERS.map((i) => i.name);
const PROPERTY_NAMES = [...new Set(DRIVERS.flatMap((i) => Object.keys(i.properties)))];
const HOTPLUGGABLE = DRIVERS.filter((i) => i.hotpluggable && i.userCreatable && i.bus === "pci").map((i) => i.name);

const text = fc.string({ maxLength: 12, unit: fc.constantFrom("a", "0", "x", "f", ",", "=", ".", " ", "-", "_", "é", "\u0000", ":", "9") });
const value = fc.oneof(
  fc.constantFrom("on", "off", "0", "1", "-1", "0x10", "0xffffffff", "99999", "4294967296", "", "auto", "52:54:00:12:34:56", "1.5", "1f.7"),
  fc.constantFrom("0x1f.7", "ff", "1e3", "NaN", "Infinity", "help", "?", "9007199254740993", "-0", "0b1", "1k", "64M"),
  fc.integer({ min: -1, max: 0x1_0000_0000 }).map(String),
  fc.integer({ min: 0, max: 0xffff }).map((n) => `0x${n.toString(16)}`),
  text,
);
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PROPERTY_NAMES) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom("addr", "bus", "id", "driver", "multifunction") },
  { weight: 1, arbitrary: text },
);
const driverName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...DRIVER_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES, "help", "e1000,help", "") },
  { weight: 1, arbitrary: text },
);

/** A -device argument: mostly a real driver with properties, sometimes anything at all. */
export const deviceSpec = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(driverName, fc.array(fc.tuple(key, value, fc.boolean()), { maxLength: 4 }))
      .map(([d, pairs]) => [d, ...pairs.map(([k, v, bare]) => (bare ? k : `${k}=${v}`))].join(",")),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** An address part of a spec: addr= and bus= with values around the valid ones. */
const address = fc
  .tuple(
    fc.constantFrom("e1000", "pci-bridge,chassis_nr=3", "virtio-net-pci", "rtl8139", "intel-hda", "piix3-usb-uhci"),
    fc.option(
      fc.oneof(
        fc
          .tuple(fc.integer({ min: 0, max: 0x21 }), fc.option(fc.integer({ min: 0, max: 9 })))
          .map(([s, f]) => `${s.toString(16)}${f === null ? "" : `.${f}`}`),
        value,
      ),
    ),
    fc.option(fc.constantFrom("pci.0", "b1", "pci.1", "isa.0", "ide.0", "nosuch", ...PROTOTYPE_NAMES)),
    fc.boolean(),
  )
  .map(([d, addr, bus, mf]) =>
    [d, addr === null ? null : `addr=${addr}`, bus === null ? null : `bus=${bus}`, mf ? "multifunction=on" : null]
      .filter((s) => s !== null)
      .join(","),
  );

/** A machine with a bridge, MSI and MSI-X devices and a multifunction slot: what most surfaces act on. */
function richMachine(): Machine {
  return Machine.create({
    devices: [
      "pci-bridge,id=b1,chassis_nr=1,addr=3",
      "virtio-net-pci,id=vn,addr=4",
      "intel-hda,id=hda,addr=5",
      "e1000,id=nic,addr=6.0,multifunction=on",
      "rtl8139,id=rtl,addr=6.1",
      "virtio-scsi-pci,id=vs,bus=b1,addr=1",
      "piix3-usb-uhci,id=usb,bus=b1,addr=2",
    ],
  });
}

/**
 * A device added and removed again on a long-lived machine: a refused add leaves it byte
 * identical; an accepted one is taken out again and then too the machine is as it was.
 */
function addThenRemove(state: { m: Machine | null }, make: () => Machine, spec: string): void {
  const m = (state.m ??= make());
  const before = fingerprint(m, { cheap: true });
  const id = "fuzzdev";
  const r = guard(`addDevice(${JSON.stringify(spec)})`, () => m.addDevice(`${spec},id=${id}`));
  if (!r.ok) return expectUnchanged(before, m, `the refused add of ${JSON.stringify(spec)}`, { cheap: true });
  const del = guard(`removeDevice(${id})`, () => m.removeDevice(id));
  if (!del.ok) {
    state.m = null; // cannot be taken out (a drive's controller): start again
    return;
  }
  expectUnchanged(before, m, `adding and removing ${JSON.stringify(spec)}`, { cheap: true });
}

const specState = { m: null as Machine | null };
const specs: Surface<string> = {
  name: "specs",
  cheap: true,
  description: "device specs: real and made-up drivers, properties and values, names from Object.prototype",
  arbitrary: deviceSpec,
  run: (spec) => addThenRemove(specState, () => Machine.create(), spec),
};

const addressState = { m: null as Machine | null };
const addresses: Surface<string> = {
  name: "addresses",
  cheap: true,
  description: "addr= and bus= of hot-plugged devices, on a machine with a bridge and a multifunction slot",
  arbitrary: address,
  run: (spec) => addThenRemove(addressState, richMachine, spec),
};

/** A monitor line: commands QEMU's HMP has, with arguments near and far from valid. */
const monitorLine = fc.oneof(
  fc.constantFrom("info pci", "info", "help", "help info", "system_reset", "savevm x", "loadvm x", "info toString", "toString", "", "   "),
  deviceSpec.map((s) => `device_add ${s}`),
  fc.constant("device_add"),
  fc.constantFrom("nic", "vn", "fuzzdev", "toString", "").map((id) => `device_del ${id}`),
  fc
    .tuple(
      fc.constantFrom("o", "i"),
      fc.constantFrom("", "/b", "/w", "/l", "/2x", "/q"),
      fc.oneof(fc.constantFrom(0xcf8, 0xcfc, 0xcfe, 0xcf9, 0xb000, 0xc000, 0x402), fc.integer({ min: 0, max: 0x1ffff })),
      fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(-1)),
    )
    .map(([c, f, port, v]) => `${c}${f} 0x${port.toString(16)}${c === "o" ? ` ${v}` : ""}`),
  fc.string({ maxLength: 30 }),
);

const monitorState = { monitor: null as Monitor | null, lines: 0 };
const monitorLines: Surface<string> = {
  name: "monitor",
  cheap: true,
  description: "HMP lines: info, device_add/device_del, port reads and writes, junk; a failed line changes nothing",
  arbitrary: monitorLine,
  run(line) {
    // A fresh machine now and then, so that device_add keeps finding free slots.
    if (monitorState.monitor === null || monitorState.lines++ > 200) {
      monitorState.monitor = new Monitor(richMachine());
      monitorState.lines = 0;
    }
    const m = monitorState.monitor.machine;
    const before = line.startsWith("info") || line === "help" ? "" : fingerprint(m, { cheap: true });
    const r = guard(`monitor line ${JSON.stringify(line)}`, () => monitorState.monitor!.execute(line));
    if (r.ok && r.value.failed && before) expectUnchanged(before, m, `the failed line ${JSON.stringify(line)}`, { cheap: true });
  },
};

interface ConfigWrite {
  readonly fn: number;
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  readonly value: number;
}

const configWrite: fc.Arbitrary<ConfigWrite> = fc.record({
  fn: fc.nat({ max: 63 }),
  offset: fc.oneof(
    fc.nat({ max: 255 }),
    fc.constantFrom(0x04, 0x06, 0x0c, 0x10, 0x18, 0x19, 0x1a, 0x1c, 0x20, 0x24, 0x30, 0x34, 0x3c, 0x3e),
  ),
  size: fc.constantFrom(1 as const, 2 as const, 4 as const),
  value: fc.oneof(fc.constantFrom(0, 0xffffffff, 0x80000000, 0xffff, 0xff, 0x10, 0x7), fc.nat({ max: 0xffffffff })),
});

/** Each function's config bytes and which bits of them are read-only (neither wmask nor w1cmask). */
function readOnlyView(fns: readonly PciFunction[]): { fn: PciFunction; config: Uint8Array; readOnly: Uint8Array }[] {
  return fns.map((fn) => {
    const s = fn.space;
    const readOnly = new Uint8Array(s.config.length);
    for (let i = 0; i < readOnly.length; i++) readOnly[i] = ~(s.wmask[i]! | s.w1cmask[i]!) & ~mayChangeItself(i);
    return { fn, config: s.config.slice(), readOnly };
  });
}

/** Bits a device itself may change in config space though no write may: interrupt status (status bit 3). */
function mayChangeItself(offset: number): number {
  return offset === 0x06 ? 0x08 : 0;
}

/**
 * Applies `writes` through real config cycles (functions behind the bridge through their
 * function, as the bridge forwards them). After each, no bit that was read-only before it changed
 * in any function (a write may make a bit read-only, as QEMU's MCH SMBASE query does); at the end
 * every capability list is well formed.
 */
function applyConfigWrites(m: Machine, writes: readonly ConfigWrite[]): void {
  const fns = functions(m);
  const done: string[] = [];
  for (const w of writes) {
    const fn = fns[w.fn % fns.length]!;
    const at = `a ${w.size}-byte write of 0x${w.value.toString(16)} at 0x${w.offset.toString(16)} of ${fn.bdf}`;
    done.push(at);
    const before = readOnlyView(fns);
    guard(at, () => {
      if (fn.bus === m.rootBus) m.configWrite(0, fn.devfn, w.offset, w.size, w.value);
      else fn.write(w.offset & ~(w.size - 1), w.value, w.size, 256);
    });
    for (const { fn: f, config, readOnly } of before) {
      const c = f.space.config;
      for (let i = 0; i < c.length; i++) {
        const changed = (c[i]! ^ config[i]!) & readOnly[i]!;
        check(
          changed === 0,
          () => `after ${done.join(", ")}: read-only bits 0x${changed.toString(16)} of byte 0x${i.toString(16)} of ${f.bdf} changed`,
        );
      }
    }
  }
  for (const f of fns) checkCapabilityList(f, done.join(", "));
}

/** Config writes on one long-lived machine, each case after a system reset. */
function configWriteSurface(name: string, description: string, make: () => Machine): Surface<ConfigWrite[]> {
  let machine: Machine | null = null;
  return {
    name,
    cheap: true,
    description,
    arbitrary: fc.array(configWrite, { minLength: 1, maxLength: 6 }),
    run(writes) {
      const m = (machine ??= make());
      m.reset();
      applyConfigWrites(m, writes);
    },
  };
}

const configWrites = configWriteSurface(
  "config-writes",
  "guest config writes of 1, 2 and 4 bytes at every offset of every function (bridge, MSI, MSI-X included), after a system reset",
  richMachine,
);

/** The same on q35's board: its chipset registers move ECAM, RAM shadowing and SMRAM. */
const q35ConfigWrites = configWriteSurface(
  "q35-config-writes",
  "the same on q35: MCH (PCIEXBAR moving ECAM, PAM, SMRAM), ICH9 LPC, AHCI and SMBus, a bridge, MSI and MSI-X devices",
  () =>
    Machine.create({
      machine: "q35",
      devices: [
        "pci-bridge,id=b1,chassis_nr=1,addr=3",
        "virtio-net-pci,id=vn,addr=4",
        "intel-hda,id=hda,addr=5",
        "virtio-scsi-pci,bus=b1,addr=1",
      ],
    }),
);

/** Where firmware would put every BAR of bus 0, programmed as SeaBIOS does, decoding on. */
function programBars(m: Machine): { space: "io" | "memory"; address: number; size: number }[] {
  const out: { space: "io" | "memory"; address: number; size: number }[] = [];
  for (const b of planBarLayout(m).bars) {
    if (!b.bdf.startsWith("00:") || b.bar === null || b.address >= 2 ** 32) continue;
    const [slot, fn] = b.bdf
      .slice(3)
      .split(".")
      .map((x) => parseInt(x, 16));
    const devfn = (slot! << 3) | fn!;
    const reg = b.bar === 6 ? 0x30 : 0x10 + 4 * b.bar;
    m.configWrite(0, devfn, reg, 4, b.bar === 6 ? b.address : b.address);
    if (b.is64) m.configWrite(0, devfn, reg + 4, 4, 0);
    m.configWrite(0, devfn, 0x04, 2, 0x0007);
    if (b.bar !== 6) out.push({ space: b.type === "io" ? "io" : "memory", address: b.address, size: b.size });
  }
  return out;
}

interface BarAccess {
  readonly bar: number;
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  readonly write: boolean;
  readonly value: number;
}

const barState = { m: null as Machine | null, bars: [] as ReturnType<typeof programBars> };
const barAccesses: Surface<BarAccess[]> = {
  name: "bar-io",
  cheap: false,
  description: "MMIO and port reads and writes into every BAR firmware maps (e1000, virtio with MSI-X, HDA, UHCI, RTL8139)",
  arbitrary: fc.array(
    fc.record({
      bar: fc.nat({ max: 31 }),
      offset: fc.oneof(fc.nat({ max: 0x40 }), fc.nat({ max: 0x4000 }), fc.nat({ max: 0xfffff })),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const),
      write: fc.boolean(),
      value: fc.oneof(fc.constantFrom(0, 0xffffffff, 1, 0x80000000), fc.nat({ max: 0xffffffff })),
    }),
    { minLength: 1, maxLength: 16 },
  ),
  run(accesses) {
    if (!barState.m) barState.m = richMachine();
    const m = barState.m;
    m.reset();
    barState.bars = programBars(m);
    for (const a of accesses) {
      const bar = barState.bars[a.bar % barState.bars.length]!;
      const addr = bar.address + (a.offset % bar.size);
      const space = bar.space === "io" ? m.io : m.memory;
      const at = `${a.write ? "a write of" : "a read"} ${a.size} bytes${a.write ? ` 0x${a.value.toString(16)}` : ""} at ${bar.space} 0x${addr.toString(16)}`;
      const r = guard(at, () => (a.write ? space.write(addr, a.size, a.value) : space.read(addr, a.size)));
      if (r.ok && !a.write) check(Number.isInteger(r.value) && (r.value as number) >= 0, () => `${at} returned ${String(r.value)}`);
    }
    // Device registers may change config bytes only through what a device owns there (status bits).
    for (const fn of functions(m)) checkCapabilityList(fn, "BAR accesses");
  },
};

/** The snapshot to mutate, and another machine's for splicing. */
const snapshotState = { m: null as Machine | null, base: null as Uint8Array | null, other: null as Uint8Array | null };
type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "splice"; from: number; to: number; at: number; len: number };

const snapshots: Surface<{ writes: ConfigWrite[]; mutations: Mutation[] }> = {
  name: "snapshots",
  cheap: false,
  description:
    "snapshots truncated, with bits flipped and with sections spliced from another machine's: refused loads change nothing, save-load is an identity",
  arbitrary: fc.record({
    writes: fc.array(configWrite, { maxLength: 4 }),
    mutations: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
        fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
        fc.record({ kind: fc.constant("splice" as const), from: fc.nat(), to: fc.nat(), at: fc.nat(), len: fc.nat({ max: 512 }) }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }),
  run({ writes, mutations }) {
    if (!snapshotState.m) {
      snapshotState.m = richMachine();
      snapshotState.base = snapshotState.m.save();
      snapshotState.other = Machine.create({ devices: ["e1000", "virtio-net-pci,bus=pci.0", "pci-bridge,chassis_nr=2"] }).save();
    }
    const m = snapshotState.m;
    m.load(snapshotState.base!);
    m.reset();
    applyConfigWrites(m, writes);
    const saved = m.save();
    let data = saved;
    for (const mu of mutations) data = mutate(data, mu, snapshotState.other!);
    const before = fingerprint(m);
    const r = guard("loading a mutated snapshot", () => m.load(data, "fuzz"));
    if (!r.ok) return expectUnchanged(before, m, `the refused load (${r.error.message})`);
    // Accepted (the mutation hit bytes a guest may hold): then saving and loading again is an identity.
    const again = m.save();
    const reload = guard("loading a machine's own snapshot", () => m.load(again, "fuzz"));
    check(reload.ok, () => `a machine's own snapshot was refused: ${reload.ok ? "" : reload.error.message}`);
    const third = m.save();
    check(Buffer.from(third).equals(Buffer.from(again)), () => "save, load, save gave different bytes");
  },
};

function mutate(data: Uint8Array, mu: Mutation, other: Uint8Array): Uint8Array {
  if (data.length === 0) return data;
  if (mu.kind === "truncate") return data.slice(0, mu.at % data.length);
  if (mu.kind === "flip") {
    const out = data.slice();
    out[mu.at % out.length]! ^= 1 << mu.bit;
    return out;
  }
  const from = mu.from % other.length;
  const piece = other.slice(from, Math.min(other.length, from + mu.len));
  const at = mu.at % data.length;
  const out = new Uint8Array(data.length - Math.min(piece.length, data.length - at) + piece.length);
  out.set(data.subarray(0, at));
  out.set(piece, at);
  out.set(data.subarray(at + piece.length), at + piece.length);
  return out.slice(0, Math.max(out.length, 0));
}

type HotplugOp = { add: string; addr: string | null; bridge: boolean } | { del: number };
const hotplugState = { m: null as Machine | null, pristine: "" };
const hotplug: Surface<HotplugOp[]> = {
  name: "hotplug",
  cheap: false,
  description:
    "device_add and device_del churn on the root bus and behind a bridge: refusals change nothing, save-load is an identity, removing all returns the machine",
  arbitrary: fc.array(
    fc.oneof(
      fc.record({
        add: fc.constantFrom(...HOTPLUGGABLE),
        addr: fc.option(fc.integer({ min: 0, max: 0x1f }).map((s) => s.toString(16))),
        bridge: fc.boolean(),
      }),
      fc.record({ del: fc.nat({ max: 7 }) }),
    ),
    { minLength: 1, maxLength: 10 },
  ),
  run(ops) {
    if (!hotplugState.m) {
      hotplugState.m = richMachine();
      hotplugState.pristine = fingerprint(hotplugState.m);
    }
    const m = hotplugState.m;
    const added: string[] = [];
    let n = 0;
    for (const op of ops) {
      const before = fingerprint(m, { cheap: true });
      if ("add" in op) {
        const id = `hp${n++}`;
        const spec = [op.add, `id=${id}`, op.bridge ? "bus=b1" : null, op.addr === null ? null : `addr=${op.addr}`]
          .filter(Boolean)
          .join(",");
        const r = guard(`device_add ${spec}`, () => m.addDevice(spec));
        if (r.ok) added.push(id);
        else expectUnchanged(before, m, `the refused device_add ${spec}`, { cheap: true });
      } else if (added.length) {
        const [id] = added.splice(op.del % added.length, 1);
        guard(`device_del ${id}`, () => m.removeDevice(id!));
      }
    }
    const s = m.save();
    m.load(s, "fuzz");
    check(Buffer.from(m.save()).equals(Buffer.from(s)), () => "save, load, save gave different bytes after hotplug");
    for (const id of added.reverse()) guard(`device_del ${id}`, () => m.removeDevice(id));
    m.reset();
    const after = fingerprint(m);
    if (after !== hotplugState.pristine) {
      hotplugState.m = null;
      throw new InvariantError(`adding and removing devices did not give the machine back: ${firstLineDiff(hotplugState.pristine, after)}`);
    }
  },
};

function firstLineDiff(a: string, b: string): string {
  const la = a.split("\n");
  const lb = b.split("\n");
  const i = la.findIndex((l, k) => l !== lb[k]);
  return i < 0 ? "(lengths differ)" : `line ${i + 1}: ${la[i]!.slice(0, 120)} -> ${(lb[i] ?? "(absent)").slice(0, 120)}`;
}

/** A machine file: a plausible config, then perhaps broken as text. */
const machineFile = fc.record({
  json: fc.boolean(),
  type: fc.constantFrom("pc", "pc-i440fx-2.0", "pc-qemu-1.4", "q35", "pc-q35-5.0", "toString", "nosuch"),
  memory: fc.option(fc.oneof(fc.constantFrom("64M", "1G", "4G", "0", "-1", "1T"), fc.nat({ max: 2 ** 33 }))),
  devices: fc.array(
    fc.record({
      driver: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom("e1000", "virtio-net-pci", "pci-bridge", "rtl8139", "intel-hda", "VGA") },
        { weight: 1, arbitrary: driverName },
      ),
      id: fc.option(fc.constantFrom("d0", "d1", "b", "toString", "1bad")),
      addr: fc.option(fc.integer({ min: 0, max: 0x1f }).map((s) => `${s.toString(16).padStart(2, "0")}.0`)),
      properties: fc.option(fc.dictionary(key, fc.oneof(value, fc.integer(), fc.boolean()), { maxKeys: 3 })),
    }),
    { maxLength: 5 },
  ),
  cut: fc.option(fc.nat()),
  junk: fc.option(fc.string({ maxLength: 8 })),
});

type MachineFileInput = typeof machineFile extends fc.Arbitrary<infer T> ? T : never;

const machineFiles: Surface<MachineFileInput> = {
  name: "machine-files",
  cheap: false,
  description: "machine files (YAML and JSON), valid and broken: only machbus errors, and dump-reload is an identity",
  arbitrary: machineFile,
  run(f) {
    const config: Record<string, unknown> = {
      machbus: 1,
      machine: { type: f.type, ...(f.memory === null ? {} : { memory: f.memory }) },
      devices: f.devices.map((d) => ({
        driver: d.driver,
        ...(d.id === null ? {} : { id: d.id }),
        ...(d.addr === null ? {} : { addr: d.addr }),
        ...(d.properties === null ? {} : { properties: d.properties }),
      })),
    };
    let text = f.json ? JSON.stringify(config) : formatMachineConfig(config as never);
    if (f.cut !== null) text = text.slice(0, f.cut % (text.length + 1));
    if (f.junk !== null) text += f.junk;
    const file = f.json ? "fuzz.json" : "fuzz.yaml";
    const parsed = guard("parsing a machine file", () => parseMachineConfig(text, file));
    if (!parsed.ok) return;
    const built = guard("building a machine file's machine", () => Machine.create(machineOptionsFromConfig(parsed.value, file)));
    if (!built.ok) return;
    const dump = formatMachineConfig(dumpMachineConfig(built.value));
    const again = guard("reloading a dump", () =>
      Machine.create(machineOptionsFromConfig(parseMachineConfig(dump, "dump.yaml"), "dump.yaml")),
    );
    check(again.ok, () => `a dump did not load: ${again.ok ? "" : again.error.describe()}`);
    if (!again.ok) return;
    const second = formatMachineConfig(dumpMachineConfig(again.value));
    check(second === dump, () => "dump, reload, dump gave a different file");
    check(configFingerprint(again.value) === configFingerprint(built.value), () => "the reloaded dump's config bytes differ");
  },
};

export const surfaces: readonly Surface[] = [
  specs,
  addresses,
  monitorLines,
  configWrites,
  q35ConfigWrites,
  barAccesses,
  snapshots,
  hotplug,
  machineFiles,
];
