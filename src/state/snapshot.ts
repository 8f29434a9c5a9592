import { MachbusError } from "../errors.js";
import type { PciHost } from "../pci/host.js";
import type { Machine } from "../machine/machine.js";
import type { MachineDevice } from "../machine/drivers.js";
import { PciDevice } from "../pci/device.js";
import { BusDevice } from "../storage/bus-device.js";
import { ByteReader, ByteWriter, crc32 } from "./binary.js";
import { describeState, u32, type KeptState } from "./description.js";
import { applyStates, checkStates, StateProblem, StateReader, visible, writeStates } from "./engine.js";
import { pciFunctionState } from "./pci-state.js";

/**
 * The snapshot stream (savevm / loadvm, Machine save/load):
 *
 *   header   "MACHBUS\0", u32 format version, str machine type, u32 section count
 *   section  u8 kind, str driver, str id, str bus, u8 devfn, u32 length + payload,
 *            u32 CRC-32 of the section up to here
 *   payload  the device's states (src/state/engine.ts): u8 count, then each state
 *   trailer  u32 CRC-32 of the header and of every section's CRC
 *
 * All integers big-endian; str = u16 length + UTF-8. Formats are listed in
 * docs/snapshot-format.md; every format released stays loadable.
 */
export const SNAPSHOT_MAGIC = "MACHBUS\0";
export const SNAPSHOT_FORMAT = 2;

const KIND_MACHINE = 0;
const KIND_PCI = 1;
const KIND_ISA = 2;
const NO_DEVFN = 0xff;

/** The machine's own state: the host bridge's config address latch. */
const MACHINE_STATE = describeState<PciHost>({ name: "machine", version: 1, fields: [u32("latch")] });

interface Section {
  index: number;
  kind: number;
  driver: string;
  id: string;
  bus: string;
  devfn: number;
  /** The payload: its bytes lie in [start, end) of the stream. */
  start: number;
  end: number;
}

/** "section 3 (e1000 at pci.0:03.0)", for errors; built only when one is thrown. */
function where(s: Section): string {
  const what = s.kind === KIND_MACHINE ? "machine" : visible(s.driver);
  const id = s.id ? `,id=${visible(s.id)}` : "";
  const at = s.devfn !== NO_DEVFN ? ` at ${visible(s.bus)}:${hex2(s.devfn >> 3)}.${s.devfn & 7}` : "";
  return `section ${s.index} (${what}${id}${at})`;
}

/** Every state a device keeps, in section order. */
function statesOf(device: MachineDevice): readonly KeptState[] {
  return device instanceof PciDevice ? [pciFunctionState(device), ...device.function.states] : device.states;
}

/** Saves the whole machine's device state. */
export function saveSnapshot(machine: Machine): Uint8Array {
  // Drives keep no state (disk contents are not modelled): they have no section.
  const devices = machine.devices().filter((p) => !(p.device instanceof BusDevice));
  const w = new ByteWriter(4096 + 512 * devices.length);
  w.bytes(new TextEncoder().encode(SNAPSHOT_MAGIC))
    .u32(SNAPSHOT_FORMAT)
    .str(machine.type.name)
    .u32(devices.length + 1);
  const headerEnd = w.length;
  const crcs = new ByteWriter(4 * (devices.length + 1));
  const section = (kind: number, driver: string, id: string, bus: string, devfn: number, states: readonly KeptState[]): void => {
    const start = w.length;
    w.u8(kind).str(driver).str(id).str(bus).u8(devfn);
    const at = w.length;
    w.u32(0);
    writeStates(w, states);
    w.patchU32(at, w.length - at - 4);
    const crc = crc32(w.since(start));
    w.u32(crc);
    crcs.u32(crc);
  };
  section(KIND_MACHINE, "", "", "", NO_DEVFN, [{ description: MACHINE_STATE, target: machine.host }]);
  for (const { device } of devices) {
    if (device instanceof PciDevice) {
      const fn = device.function;
      section(KIND_PCI, device.driver, device.id ?? "", fn.bus!.name, fn.devfn, statesOf(device));
    } else {
      section(KIND_ISA, device.driver, device.id ?? "", machine.isaBus ?? "", NO_DEVFN, device.states);
    }
  }
  w.u32(crc32(concat(w.since(0).subarray(0, headerEnd), crcs.since(0))));
  return w.result();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One section's target: who it is and what states it keeps. */
interface Plan {
  section: Section;
  states: readonly KeptState[];
}

/**
 * Loads a snapshot into `machine`, or refuses with an error naming what is wrong. Atomic: the
 * whole stream is parsed and checked first (format, checksums, every device present at its
 * address, every state's version and fields, capabilities, config bytes against cmask); if
 * anything fails once states are being applied, every device is put back exactly as it was.
 */
export function loadSnapshot(machine: Machine, data: Uint8Array, label = "snapshot"): void {
  const sections = parseStream(machine, data, label);
  const devices = deviceIndex(machine);
  const plans: Plan[] = [];
  const seen = new Set<MachineDevice | "machine">();
  const r = new StateReader(data);
  for (const s of sections) {
    const target = s.kind === KIND_MACHINE ? "machine" : findTarget(devices, s, label);
    if (seen.has(target)) throw new MachbusError("state-invalid", `${label}: ${where(s)}: the stream has this device twice`);
    seen.add(target);
    const states = target === "machine" ? [{ description: MACHINE_STATE, target: machine.host }] : statesOf(target);
    r.pos = s.start;
    r.end = s.end;
    try {
      checkStates(r, states);
      if (r.pos !== s.end) throw new StateProblem(`${s.end - r.pos} unexpected bytes at the end of the section`);
    } catch (e) {
      if (e instanceof StateProblem) throw new MachbusError("state-invalid", `${label}: ${where(s)}: ${e.message}`);
      throw e;
    }
    plans.push({ section: s, states });
  }
  if (!seen.has("machine")) throw new MachbusError("state-invalid", `${label}: has no state for the machine (the config address latch)`);
  for (const { device } of machine.devices()) {
    if (!seen.has(device) && !(device instanceof BusDevice)) {
      throw new MachbusError("state-invalid", `${label}: has no state for ${describe(device)}, which this machine has`);
    }
  }
  apply(machine, data, plans);
}

function parseStream(machine: Machine, data: Uint8Array, label: string): Section[] {
  const r = new ByteReader(data, label);
  r.context = "the header";
  const magic = new TextDecoder().decode(r.bytes(SNAPSHOT_MAGIC.length, false));
  if (magic !== SNAPSHOT_MAGIC) throw new MachbusError("state-invalid", `${label}: not a machbus snapshot (no "MACHBUS" header)`);
  const format = r.u32();
  if (format !== SNAPSHOT_FORMAT) {
    throw new MachbusError(
      "state-invalid",
      `${label}: snapshot format version ${format} is not one this machbus reads (it reads ${SNAPSHOT_FORMAT})`,
    );
  }
  r.context = "the machine type";
  const type = r.str();
  if (type !== machine.type.name) {
    throw new MachbusError("state-invalid", `${label}: is a snapshot of machine type ${type}; this machine is ${machine.type.name}`);
  }
  r.context = "the section count";
  const count = r.u32();
  const headerEnd = r.pos;
  const crcs = new ByteWriter(4 * Math.min(count, 1 << 20));
  const sections: Section[] = [];
  // Error contexts built only when an error is: one closure each, naming the section being read.
  let s: Section = { index: 0, kind: 0, driver: "", id: "", bus: "", devfn: NO_DEVFN, start: 0, end: 0 };
  const header = (): string => `section ${s.index} of ${count}`;
  const payload = (): string => `the payload of ${where(s)}`;
  const checksum = (): string => `the checksum of ${where(s)}`;
  for (let i = 1; i <= count; i++) {
    const start = r.pos;
    s = { index: i, kind: 0, driver: "", id: "", bus: "", devfn: NO_DEVFN, start: 0, end: 0 };
    r.context = header;
    s.kind = r.u8();
    s.driver = r.str();
    s.id = r.str();
    s.bus = r.str();
    s.devfn = r.u8();
    const kind = s.kind;
    r.context = payload;
    const length = r.u32();
    if (length > r.remaining) {
      throw new MachbusError(
        "state-invalid",
        `${label}: the payload of ${where(s)} claims ${length} bytes, more than the ${r.remaining} it can hold (at byte ${r.pos - 4})`,
      );
    }
    s.start = r.pos;
    s.end = r.pos + length;
    r.pos = s.end;
    const body = data.subarray(start, r.pos);
    r.context = checksum;
    const crc = r.u32();
    if (crc !== crc32(body)) throw new MachbusError("state-invalid", `${label}: ${where(s)}: checksum mismatch (the section is corrupt)`);
    if (kind !== KIND_MACHINE && kind !== KIND_PCI && kind !== KIND_ISA) {
      throw new MachbusError("state-invalid", `${label}: ${where(s)}: unknown section kind ${kind}`);
    }
    crcs.u32(crc);
    sections.push(s);
  }
  r.context = "the stream checksum";
  const total = r.u32();
  if (total !== crc32(concat(data.subarray(0, headerEnd), crcs.since(0)))) {
    throw new MachbusError("state-invalid", `${label}: stream checksum mismatch (the file is corrupt)`);
  }
  if (r.remaining !== 0) throw new MachbusError("state-invalid", `${label}: ${r.remaining} unexpected bytes after the end of the stream`);
  return sections;
}

/** The machine's devices by id, by PCI address and by ISA driver and id: one lookup per section. */
interface DeviceIndex {
  byId: Map<string, MachineDevice>;
  byAddress: Map<string, MachineDevice>;
}

const addressKey = (kind: number, bus: string, devfn: number, driver: string, id: string): string =>
  kind === KIND_PCI ? `pci ${bus} ${devfn}` : `isa ${driver} ${id}`;

function deviceIndex(machine: Machine): DeviceIndex {
  const index: DeviceIndex = { byId: new Map(), byAddress: new Map() };
  for (const { device } of machine.devices()) {
    if (device instanceof BusDevice) continue;
    if (device.id && !index.byId.has(device.id)) index.byId.set(device.id, device);
    const key =
      device instanceof PciDevice
        ? addressKey(KIND_PCI, device.function.bus?.name ?? "", device.function.devfn, "", "")
        : addressKey(KIND_ISA, "", 0, device.driver, device.id ?? "");
    if (!index.byAddress.has(key)) index.byAddress.set(key, device);
  }
  return index;
}

function findTarget(devices: DeviceIndex, s: Section, label: string): MachineDevice {
  const byId = s.id ? devices.byId.get(s.id) : undefined;
  const device = byId ?? devices.byAddress.get(addressKey(s.kind, s.bus, s.devfn, s.driver, s.id));
  if (!device) throw new MachbusError("state-invalid", `${label}: ${where(s)}: this machine has no such device`);
  if (device.driver !== s.driver) {
    throw new MachbusError("state-invalid", `${label}: ${where(s)}: the device there is ${describe(device)}, not ${visible(s.driver)}`);
  }
  const isPci = device instanceof PciDevice;
  if (isPci !== (s.kind === KIND_PCI)) {
    throw new MachbusError("state-invalid", `${label}: ${where(s)}: ${describe(device)} is ${isPci ? "" : "not "}a PCI device`);
  }
  if (isPci) {
    const fn = device.function;
    if (fn.bus!.name !== s.bus || fn.devfn !== s.devfn) {
      throw new MachbusError(
        "state-invalid",
        `${label}: ${where(s)}: ${describe(device)} sits at ${fn.bus!.name}:${hex2(fn.devfn >> 3)}.${fn.devfn & 7} in this machine`,
      );
    }
  }
  return device;
}

/**
 * Applies checked plans. What every state holds now is saved first, through the same engine,
 * so that a failure while applying (a device's `loaded` step, or its re-derivation afterwards)
 * puts every byte back: config bytes, registers, INTx levels, and then what follows from them
 * (routing, BAR mappings, bridge windows, interrupt lines).
 */
function apply(machine: Machine, data: Uint8Array, plans: Plan[]): void {
  const before = new ByteWriter(data.length);
  for (const p of plans) writeStates(before, p.states);
  try {
    const r = new StateReader(data);
    for (const p of plans) {
      r.pos = p.section.start;
      r.end = p.section.end;
      applyStates(r, p.states);
    }
    machine.stateLoaded();
  } catch (e) {
    const r = new StateReader(before.since(0));
    try {
      for (const p of plans) applyStates(r, p.states);
      machine.stateLoaded();
    } catch (again) {
      throw new MachbusError(
        "state-invalid",
        `${e instanceof Error ? e.message : String(e)}; putting the machine back failed too: ${again instanceof Error ? again.message : String(again)}`,
      );
    }
    throw e;
  }
}

function describe(device: MachineDevice): string {
  if (device instanceof PciDevice) return device.function.label;
  return device.id ? `${device.driver},id=${device.id}` : device.driver;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
