import { MachbusError, isMachbusError } from "../errors.js";
import { Machine, type MachineOptions } from "../machine/machine.js";
import type { MachineDevice } from "../machine/drivers.js";
import { PciDevice } from "../pci/device.js";
import { BusDevice } from "../storage/bus-device.js";
import { ByteReader, ByteWriter } from "./binary.js";
import { dumpMachineConfig, machineOptionsFromConfig, machineConfigSchema, type HostConfig, type MachineConfig } from "./machine-config.js";

/** A machine description and the file (or "stream") it came from, for messages. */
export interface NamedConfig {
  readonly config: MachineConfig;
  readonly file: string;
  readonly host?: HostConfig;
}

/** What both machines are built from: driver catalogue and machine types (default: the built-in ones). */
export type MachineCatalogues = Pick<MachineOptions, "drivers" | "machineTypes">;

/**
 * Every guest-visible difference between the machine `src` describes and the one `dst` would
 * build (F19's "can't comply" list): machine type, memory, missing or extra devices, other
 * addresses, property values, capabilities and identity registers. Host-only settings (image
 * paths, backends) are never differences. Empty when the destination can take the source's state.
 */
export function compareMachineConfigs(src: NamedConfig, dst: NamedConfig, catalogues: MachineCatalogues = {}): string[] {
  const a = Machine.create({ ...machineOptionsFromConfig(src.config, src.file, src.host), ...catalogues });
  const build = (config: MachineConfig): Machine =>
    Machine.create({ ...machineOptionsFromConfig(config, dst.file, dst.host), ...catalogues });
  try {
    return compareMachines(a, build(dst.config));
  } catch (e) {
    if (!isMachbusError(e)) throw e;
    if (e.code !== "unknown-machine") return [`the destination cannot build its machine: ${e.describe()}`];
    // Still compare the devices, as if the destination had the source's type.
    const asSource = { ...dst.config, machine: { ...dst.config.machine, type: a.type.name } };
    let rest: string[];
    try {
      rest = compareMachines(a, build(asSource)).filter((d) => !d.startsWith("machine type:"));
    } catch (inner) {
      if (!isMachbusError(inner)) throw inner;
      rest = [`the destination cannot build its machine: ${inner.describe()}`];
    }
    return [`machine type: ${dst.config.machine.type} (destination) is unknown; the source runs ${a.type.name}`, ...rest];
  }
}

/** Differences between two built machines, source first. */
export function compareMachines(a: Machine, b: Machine): string[] {
  const out: string[] = [];
  if (a.type.name !== b.type.name) out.push(`machine type: ${a.type.name} on the source, ${b.type.name} on the destination`);
  if (a.ramSize !== b.ramSize) out.push(`memory: ${a.ramSize} bytes on the source, ${b.ramSize} on the destination`);
  for (const [k, v] of Object.entries(a.boardOptions)) {
    if (String(b.boardOptions[k]) !== String(v))
      out.push(`machine option ${k}: ${String(v)} on the source, ${String(b.boardOptions[k])} on the destination`);
  }
  const matched = new Set<MachineDevice>();
  for (const pa of a.devices()) {
    const da = pa.device;
    const pb = b.devices().find((p) => !matched.has(p.device) && sameDevice(da, p.device));
    if (!pb) {
      out.push(`missing on the destination: ${describe(da)}`);
      continue;
    }
    matched.add(pb.device);
    const db = pb.device;
    const name = describe(da);
    if (da.driver !== db.driver) {
      out.push(`${where(da)}: ${da.driver} on the source, ${db.driver} on the destination`);
      continue;
    }
    if (where(da) !== where(db)) out.push(`${name}: at ${where(da)} on the source, ${where(db)} on the destination`);
    for (const [prop, def] of Object.entries(pa.info.properties)) {
      if (prop === "addr" || !def.guestVisible) continue;
      const va = def.type.format(pa.props[prop]);
      const vb = def.type.format(pb.props[prop]);
      if (va !== vb) out.push(`${name}: ${prop} = ${va} on the source, ${vb} on the destination`);
    }
    if (da instanceof PciDevice && db instanceof PciDevice) {
      const ca = capabilityList(da);
      const cb = capabilityList(db);
      if (ca !== cb) out.push(`${name}: capabilities ${ca || "none"} on the source, ${cb || "none"} on the destination`);
      const ia = identity(da);
      const ib = identity(db);
      if (ia !== ib) out.push(`${name}: identity ${ia} on the source, ${ib} on the destination`);
    }
  }
  for (const pb of b.devices()) if (!matched.has(pb.device)) out.push(`extra on the destination: ${describe(pb.device)}`);
  return out;
}

function sameDevice(a: MachineDevice, b: MachineDevice): boolean {
  if (a.id || b.id) return a.id === b.id;
  return a.driver === b.driver && where(a) === where(b);
}

function where(d: MachineDevice): string {
  if (d instanceof BusDevice) return d.address;
  if (!(d instanceof PciDevice)) return "isa";
  const fn = d.function;
  return `${fn.bus!.name}:${(fn.devfn >> 3).toString(16).padStart(2, "0")}.${fn.devfn & 7}`;
}

function describe(d: MachineDevice): string {
  return `${d.driver}${d.id ? `,id=${d.id}` : ""} at ${where(d)}`;
}

const CAPABILITY_NAMES: Record<number, string> = {
  0x01: "PM",
  0x04: "slot id",
  0x05: "MSI",
  0x09: "vendor",
  0x0c: "SHPC",
  0x10: "PCIe",
  0x11: "MSI-X",
};

function capabilityList(d: PciDevice): string {
  return d.capabilities
    .list()
    .map((c) => `${CAPABILITY_NAMES[c.id] ?? `0x${c.id.toString(16)}`}@0x${c.offset.toString(16)}`)
    .join(" ");
}

function identity(d: PciDevice): string {
  const s = d.config;
  const h = (v: number, n: number): string => v.toString(16).padStart(n, "0");
  return `${h(s.get16(0), 4)}:${h(s.get16(2), 4)} rev ${h(s.get8(8), 2)} class ${h(s.get32(8) >>> 8, 6)} sub ${h(s.get16(0x2c), 4)}:${h(s.get16(0x2e), 4)}`;
}

// ---- the migration stream: hardware description first, then the device state ----

const MIGRATION_MAGIC = "MBMIGRATE";
const MIGRATION_FORMAT = 1;

/** The source side: the machine's description (no host part) followed by its snapshot. */
export function migrationStream(machine: Machine): Uint8Array {
  const description = new TextEncoder().encode(JSON.stringify(dumpMachineConfig(machine, { withHost: false })));
  return new ByteWriter()
    .bytes(new TextEncoder().encode(MIGRATION_MAGIC))
    .u32(MIGRATION_FORMAT)
    .blob(description)
    .blob(machine.save())
    .result();
}

export interface ReceiveOptions extends MachineCatalogues {
  /** The destination's own host configuration (its image paths, backends). */
  host?: HostConfig;
  /** The machine the destination is prepared to run; any difference refuses the migration. */
  expect?: MachineConfig;
}

/**
 * The destination side: reads the description, refuses with every difference it cannot comply
 * with (against `expect`, when given), else builds the machine with its own host configuration
 * and loads the state.
 */
export function receiveMigration(stream: Uint8Array, options: ReceiveOptions = {}): Machine {
  const r = new ByteReader(stream, "migration stream");
  const magic = new TextDecoder().decode(r.bytes(MIGRATION_MAGIC.length));
  if (magic !== MIGRATION_MAGIC) throw new MachbusError("state-invalid", "migration stream: not a machbus migration stream");
  const format = r.u32();
  if (format !== MIGRATION_FORMAT) {
    throw new MachbusError(
      "state-invalid",
      `migration stream: format version ${format} is not one this machbus reads (it reads ${MIGRATION_FORMAT})`,
    );
  }
  r.context = "the hardware description";
  const text = new TextDecoder().decode(r.blob(r.remaining));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MachbusError("state-invalid", "migration stream: the hardware description is not valid JSON");
  }
  const checked = machineConfigSchema.safeParse(parsed);
  if (!checked.success)
    throw new MachbusError("state-invalid", `migration stream: the hardware description is invalid: ${checked.error.issues[0]!.message}`);
  const description = checked.data;
  r.context = "the device state";
  const state = r.blob(r.remaining);
  const catalogues: MachineCatalogues = { drivers: options.drivers, machineTypes: options.machineTypes };
  const source: NamedConfig = { config: description, file: "migration stream", host: options.host ?? {} };
  if (options.expect) {
    const destination = { config: options.expect, file: "destination config", host: options.host ?? {} };
    const differences = compareMachineConfigs(source, destination, catalogues);
    if (differences.length) {
      throw new MachbusError("migration-refused", `can't comply with the source machine:\n${differences.map((d) => `  ${d}`).join("\n")}`);
    }
  }
  let machine: Machine;
  try {
    machine = Machine.create({ ...machineOptionsFromConfig(description, "migration stream", options.host ?? {}), ...catalogues });
  } catch (e) {
    if (isMachbusError(e)) throw new MachbusError("migration-refused", `can't comply with the source machine: ${e.describe()}`);
    throw e;
  }
  machine.load(state, "migration stream");
  return machine;
}
