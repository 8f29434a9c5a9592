import { MachbusError } from "../errors.js";
import { IsaDevice } from "../isa/device.js";
import type { Machine } from "../machine/machine.js";
import type { MachineDevice } from "../machine/drivers.js";

import { PciDevice } from "../pci/device.js";
import { ByteReader, ByteWriter, crc32 } from "./binary.js";
import type { StatePart } from "./state-part.js";

/**
 * The snapshot stream (savevm / loadvm, Machine save/load):
 *
 *   header   "MACHBUS\0", u32 format version, str machine type, u32 section count
 *   section  u8 kind, str driver, str id, str bus, u8 devfn, u32 section version,
 *            u32 length + payload, u32 CRC-32 of the section up to here
 *   trailer  u32 CRC-32 of everything before it
 *
 * All integers big-endian; str = u16 length + UTF-8. Formats and section versions are listed in
 * docs/snapshot-format.md; every version ever written stays loadable.
 */
export const SNAPSHOT_MAGIC = "MACHBUS\0";
export const SNAPSHOT_FORMAT = 1;

const KIND_MACHINE = 0;
const KIND_PCI = 1;
const KIND_ISA = 2;
const NO_DEVFN = 0xff;

/** PCI section versions: 2 = config + 4 INTx levels (the seed's version 2); 3 = cap_present first, then config, INTx, parts. */
const PCI_SECTION_VERSION = 3;
const ISA_SECTION_VERSION = 1;
const MACHINE_SECTION_VERSION = 1;

interface Section {
  kind: number;
  driver: string;
  id: string;
  bus: string;
  devfn: number;
  version: number;
  payload: Uint8Array;
  /** "section 3 (e1000 at pci.0:03.0)", for errors. */
  where: string;
}

/** Saves the whole machine's device state. */
export function saveSnapshot(machine: Machine): Uint8Array {
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode(SNAPSHOT_MAGIC)).u32(SNAPSHOT_FORMAT).str(machine.type.name);
  const sections: { kind: number; driver: string; id: string; bus: string; devfn: number; version: number; payload: Uint8Array }[] = [];
  sections.push({
    kind: KIND_MACHINE,
    driver: "",
    id: "",
    bus: "",
    devfn: NO_DEVFN,
    version: MACHINE_SECTION_VERSION,
    payload: new ByteWriter().u32(machine.host.latch).result(),
  });
  for (const { device } of machine.devices()) {
    if (device instanceof PciDevice) {
      const fn = device.function;
      const p = new ByteWriter();
      p.u32(device.capabilities.presentMask());
      p.u16(fn.space.size).bytes(fn.space.config);
      p.u8(fn.irqState);
      writeParts(p, fn.stateParts);
      sections.push({
        kind: KIND_PCI,
        driver: device.driver,
        id: device.id ?? "",
        bus: fn.bus!.name,
        devfn: fn.devfn,
        version: PCI_SECTION_VERSION,
        payload: p.result(),
      });
    } else {
      const p = new ByteWriter();
      writeParts(p, device.stateParts);
      sections.push({
        kind: KIND_ISA,
        driver: device.driver,
        id: device.id ?? "",
        bus: machine.isaBus ?? "",
        devfn: NO_DEVFN,
        version: ISA_SECTION_VERSION,
        payload: p.result(),
      });
    }
  }
  w.u32(sections.length);
  for (const s of sections) {
    const start = w.length;
    w.u8(s.kind).str(s.driver).str(s.id).str(s.bus).u8(s.devfn).u32(s.version).blob(s.payload);
    w.u32(crc32(w.since(start)));
  }
  w.u32(crc32(w.since(0)));
  return w.result();
}

function writeParts(w: ByteWriter, parts: readonly StatePart[]): void {
  w.u16(parts.length);
  for (const part of parts) w.str(part.name).u32(part.version).blob(part.save());
}

/** A planned change to one device, built and checked before anything is applied. */
interface PciPlan {
  device: PciDevice;
  config: Uint8Array;
  irqState: number;
  parts: { part: StatePart; bytes: Uint8Array; version: number }[];
}

interface IsaPlan {
  device: IsaDevice;
  parts: { part: StatePart; bytes: Uint8Array; version: number }[];
}

/**
 * Loads a snapshot into `machine`, or refuses with an error naming what is wrong. Atomic: the
 * whole stream is parsed and checked first (format, versions, checksums, every device present at
 * its address, capabilities, config bytes against cmask); a failure while applying restores
 * every device as it was.
 */
export function loadSnapshot(machine: Machine, data: Uint8Array, label = "snapshot"): void {
  const sections = parseStream(machine, data, label);
  let latch = 0;
  const pci: PciPlan[] = [];
  const isa: IsaPlan[] = [];
  const seen = new Set<MachineDevice>();
  const devices = deviceIndex(machine);
  for (const s of sections) {
    if (s.kind === KIND_MACHINE) {
      if (s.version !== MACHINE_SECTION_VERSION) throw unknownVersion(label, s);
      const r = new ByteReader(s.payload, `${label}: ${s.where}`);
      r.context = "the config address latch";
      latch = r.u32();
      continue;
    }
    const device = findTarget(devices, s, label);
    if (seen.has(device)) throw new MachbusError("state-invalid", `${label}: ${s.where}: the stream has this device twice`);
    seen.add(device);
    if (device instanceof PciDevice) pci.push(planPci(device, s, label));
    else isa.push({ device, parts: planParts(device.stateParts, new ByteReader(s.payload, `${label}: ${s.where}`), s, label) });
  }
  for (const { device } of machine.devices()) {
    if (!seen.has(device)) {
      throw new MachbusError("state-invalid", `${label}: has no state for ${describe(device)}, which this machine has`);
    }
  }
  apply(machine, latch, pci, isa);
}

/** A name read from a possibly corrupt stream, fit for an error message: control characters as \xNN. */
function visible(name: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function parseStream(machine: Machine, data: Uint8Array, label: string): Section[] {
  const r = new ByteReader(data, label);
  r.context = "the header";
  const magic = new TextDecoder().decode(r.bytes(SNAPSHOT_MAGIC.length));
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
  const sections: Section[] = [];
  for (let i = 1; i <= count; i++) {
    const start = r.pos;
    r.context = `section ${i} of ${count}`;
    const kind = r.u8();
    const driver = r.str();
    const id = r.str();
    const bus = r.str();
    const devfn = r.u8();
    const version = r.u32();
    const where = `section ${i} (${kind === KIND_MACHINE ? "machine" : visible(driver)}${id ? `,id=${visible(id)}` : ""}${devfn !== NO_DEVFN ? ` at ${visible(bus)}:${hex2(devfn >> 3)}.${devfn & 7}` : ""})`;
    r.context = `the payload of ${where}`;
    const payload = r.blob(r.remaining, false);
    const body = data.subarray(start, r.pos);
    r.context = `the checksum of ${where}`;
    const crc = r.u32();
    if (crc !== crc32(body)) throw new MachbusError("state-invalid", `${label}: ${where}: checksum mismatch (the section is corrupt)`);
    if (kind !== KIND_MACHINE && kind !== KIND_PCI && kind !== KIND_ISA) {
      throw new MachbusError("state-invalid", `${label}: ${where}: unknown section kind ${kind}`);
    }
    sections.push({ kind, driver, id, bus, devfn, version, payload, where });
  }
  r.context = "the stream checksum";
  const total = r.u32();
  if (total !== crc32(data.subarray(0, r.pos - 4)))
    throw new MachbusError("state-invalid", `${label}: stream checksum mismatch (the file is corrupt)`);
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
  const atAddress = devices.byAddress.get(addressKey(s.kind, s.bus, s.devfn, s.driver, s.id));
  const found = byId ?? atAddress;
  if (!found) throw new MachbusError("state-invalid", `${label}: ${s.where}: this machine has no such device`);
  const device = found;
  if (device.driver !== s.driver) {
    throw new MachbusError("state-invalid", `${label}: ${s.where}: the device there is ${describe(device)}, not ${s.driver}`);
  }
  if (s.kind === KIND_PCI) {
    if (!(device instanceof PciDevice))
      throw new MachbusError("state-invalid", `${label}: ${s.where}: ${describe(device)} is not a PCI device`);
    const fn = device.function;
    if (fn.bus!.name !== s.bus || fn.devfn !== s.devfn) {
      throw new MachbusError(
        "state-invalid",
        `${label}: ${s.where}: ${describe(device)} sits at ${fn.bus!.name}:${hex2(fn.devfn >> 3)}.${fn.devfn & 7} in this machine`,
      );
    }
  }
  return device;
}

function planPci(device: PciDevice, s: Section, label: string): PciPlan {
  const fn = device.function;
  const space = fn.space;
  const r = new ByteReader(s.payload, `${label}: ${s.where}`);
  let config: Uint8Array;
  let irqState = 0;
  if (s.version === 3) {
    r.context = "cap_present";
    // The seed's cap_present rule first: a capability the device lacks is the clearest refusal.
    const capPresent = r.u32();
    const supported = device.capabilities.presentMask();
    const extra = capPresent & ~supported;
    if (extra) {
      throw new MachbusError(
        "state-invalid",
        `${label}: ${s.where}: capabilities ${idsOf(extra)} are present in the stream but ${describe(device)} does not support them (it has ${idsOf(supported) || "none"})`,
      );
    }
    r.context = "the config size";
    const size = r.u16();
    if (size !== space.size) {
      throw new MachbusError("state-invalid", `${label}: ${s.where}: has ${size} config bytes, the device has ${space.size}`);
    }
    r.context = "the config bytes";
    config = r.bytes(size, false);
    r.context = "the INTx levels";
    irqState = r.u8();
    if (irqState > 0xf)
      throw new MachbusError("state-invalid", `${label}: ${s.where}: INTx levels 0x${irqState.toString(16)} name pins beyond INTD`);
  } else if (s.version === 2) {
    // The seed's version 2: no capabilities yet, 256 config bytes, four big-endian levels.
    if (space.size !== 256)
      throw new MachbusError(
        "state-invalid",
        `${label}: ${s.where}: version 2 sections hold 256 config bytes; the device has ${space.size}`,
      );
    r.context = "the config bytes";
    config = r.bytes(256, false);
    r.context = "the INTx levels";
    for (let pin = 0; pin < 4; pin++) {
      const level = r.u32();
      if (level > 1) throw new MachbusError("state-invalid", `${label}: ${s.where}: irq state ${level}: must be 0 or 1.`);
      irqState |= level << pin;
    }
  } else {
    throw unknownVersion(label, s);
  }
  // QEMU's get_pci_config_device: read-only bits the device checks must match.
  for (let i = 0; i < space.size; i++) {
    const differ = (config[i]! ^ space.config[i]!) & space.cmask[i]! & ~space.wmask[i]! & ~space.w1cmask[i]!;
    if (differ) {
      throw new MachbusError(
        "state-invalid",
        `${label}: ${s.where}: ${describe(device)}${registerName(i)}: Bad config data: i=0x${i.toString(16)} read: ${config[i]!.toString(16)} device: ${space.config[i]!.toString(16)} cmask: ${space.cmask[i]!.toString(16)} wmask: ${space.wmask[i]!.toString(16)} w1cmask:${space.w1cmask[i]!.toString(16)}`,
      );
    }
  }
  const parts = planParts(fn.stateParts, r, s, label, s.version === 2);
  if (r.remaining)
    throw new MachbusError("state-invalid", `${label}: ${s.where}: ${r.remaining} unexpected bytes at the end of the section`);
  return { device, config, irqState, parts };
}

function planParts(
  parts: readonly StatePart[],
  r: ByteReader,
  s: Section,
  label: string,
  legacy = false,
): { part: StatePart; bytes: Uint8Array; version: number }[] {
  if (legacy) return []; // streams from before state parts carry none; the device keeps its own
  r.context = "the state part count";
  const n = r.u16();
  const got = new Map<string, { bytes: Uint8Array; version: number }>();
  for (let i = 0; i < n; i++) {
    r.context = `state part ${i + 1}`;
    const name = r.str();
    const version = r.u32();
    const bytes = r.blob(r.remaining, false);
    got.set(name, { bytes, version });
  }
  const plan: { part: StatePart; bytes: Uint8Array; version: number }[] = [];
  for (const part of parts) {
    const g = got.get(part.name);
    if (!g) throw new MachbusError("state-invalid", `${label}: ${s.where}: has no '${part.name}' state, which this device needs`);
    if (g.version > part.version) {
      throw new MachbusError(
        "state-invalid",
        `${label}: ${s.where}: '${part.name}' state version ${g.version} is newer than this device's ${part.version}`,
      );
    }
    const problem = part.check(g.bytes, g.version);
    if (problem) throw new MachbusError("state-invalid", `${label}: ${s.where}: '${part.name}' state: ${problem}`);
    got.delete(part.name);
    plan.push({ part, bytes: g.bytes, version: g.version });
  }
  if (got.size) {
    throw new MachbusError("state-invalid", `${label}: ${s.where}: has state this device does not know: ${[...got.keys()].join(", ")}`);
  }
  return plan;
}

/** Applies checked plans; on any failure puts every device back as it was. */
function apply(machine: Machine, latch: number, pci: PciPlan[], isa: IsaPlan[]): void {
  const before = {
    latch: machine.host.latch,
    pci: pci.map(({ device }) => ({
      device,
      space: device.function.space.snapshot(),
      irqState: device.function.irqState,
      parts: device.function.stateParts.map((part) => ({ part, bytes: part.save(), version: part.version })),
    })),
    isa: isa.map(({ device }) => ({
      device,
      parts: device.stateParts.map((part) => ({ part, bytes: part.save(), version: part.version })),
    })),
  };
  try {
    machine.host.latch = latch;
    for (const plan of pci) {
      const fn = plan.device.function;
      fn.space.config.set(plan.config);
      fn.irqState = plan.irqState;
      plan.device.capabilities.relocateToLoadedList();
      for (const p of plan.parts) p.part.load(p.bytes, p.version);
    }
    for (const plan of isa) for (const p of plan.parts) p.part.load(p.bytes, p.version);
    machine.stateLoaded();
  } catch (e) {
    machine.host.latch = before.latch;
    for (const b of before.pci) {
      b.device.function.space.restore(b.space);
      b.device.function.irqState = b.irqState;
      for (const p of b.parts) p.part.load(p.bytes, p.version);
    }
    for (const b of before.isa) for (const p of b.parts) p.part.load(p.bytes, p.version);
    machine.stateLoaded();
    throw e;
  }
}

function unknownVersion(label: string, s: Section): MachbusError {
  const known = s.kind === KIND_PCI ? "2 and 3" : "1";
  return new MachbusError("state-invalid", `${label}: ${s.where}: section version ${s.version} is unknown (this machbus reads ${known})`);
}

function describe(device: MachineDevice): string {
  const base = device.id ? `${device.driver},id=${device.id}` : device.driver;
  return device instanceof PciDevice ? `${base} (${device.function.bdf})` : base;
}

const REGISTER_NAMES: Record<number, string> = {
  0x00: "vendor id",
  0x01: "vendor id",
  0x02: "device id",
  0x03: "device id",
  0x06: "status",
  0x08: "revision",
  0x09: "programming interface",
  0x0a: "class",
  0x0b: "class",
  0x0e: "header type",
  0x34: "capability pointer",
};

function registerName(offset: number): string {
  const name = REGISTER_NAMES[offset];
  return name ? ` ${name}` : offset >= 0x10 && offset < 0x28 ? " BAR type bits" : "";
}

function idsOf(mask: number): string {
  const ids: string[] = [];
  for (let id = 0; id < 32; id++) if (mask & (1 << id)) ids.push(`0x${id.toString(16).padStart(2, "0")}`);
  return ids.join(", ");
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
