import { LineCounter, Schema, isMap, isScalar, parseDocument, stringify, type ScalarTag } from "yaml";
import { z } from "zod";
import { MachbusError } from "../errors.js";
import { IsaDevice } from "../isa/device.js";
import { DEFAULT_POLICY } from "../machine/allocator.js";
import type { DeviceSpec } from "../machine/device-spec.js";
import type { HostConfig, HostDrive, HostNetdev } from "../machine/host-config.js";
import type { Machine, MachineOptions, PlacedDevice } from "../machine/machine.js";
import type { PropertyDef } from "../machine/properties.js";
import { PciDevice, pciCommonProperties } from "../pci/device.js";
import { BusDevice } from "../storage/bus-device.js";

/**
 * Machine-definition files (F18): YAML or JSON describing a machine's guest-visible hardware —
 * type, devices with their addresses and properties — and, apart from it, the host side (disk
 * images, network backends) that devices reference by name. `machbus dump-config` writes a
 * complete one; people write partial ones. docs/machine-config.md describes the format and
 * docs/machine-config.schema.json is generated from the schema below.
 */
export const CONFIG_FORMAT = 1;

const identifier = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "an identifier: a letter, then letters, digits, '-', '.', '_'");
const propertyValue = z.union([z.string(), z.number(), z.boolean()]);

export const deviceEntrySchema = z
  .object({
    driver: z.string().min(1).describe("driver name, as for --device (e1000, virtio-net-pci, ...)"),
    id: identifier.optional().describe("the device's id; devices refer to bridges' buses by it"),
    bus: z
      .string()
      .optional()
      .describe("the bus to plug into: pci.0 (default), a bridge's id, isa.0, or a controller's bus (ide.0, scsi.0, <id>.0) for a drive"),
    addr: z
      .string()
      .regex(/^\s*(0[xX])?[0-9a-fA-F]{1,2}(\.(0[xX])?[0-7])?\s*$/, "SLOT[.FUNCTION] in hex, e.g. 03.0")
      .optional()
      .describe("slot and function (PCI); absent: the allocator picks, and the next dump records it"),
    address: z
      .record(z.string(), z.number().int().nonnegative())
      .optional()
      .describe(
        "a drive's address on its controller's bus: unit (IDE: 0 master, 1 slave); channel, scsi-id and lun (SCSI); absent parts: the bus picks, and the next dump records them",
      ),
    properties: z.record(z.string(), propertyValue).optional().describe("property values by name, as for --device"),
    addedBy: z
      .string()
      .optional()
      .describe("the allocation policy that added this device to make room (auto-bridge); a reload keeps it as it is"),
  })
  .strict();

export const driveSchema = z
  .object({
    id: identifier.describe("the name devices use: drive=ID"),
    file: z.string().min(1).optional().describe("image path on this host; absent: an empty drive (a CD-ROM drive without a disc)"),
    format: z.string().optional().describe("image format (raw, qcow2, ...)"),
    if: z.literal("none").optional().describe("QEMU's if=none: the drive is a backend for a device"),
    readonly: z.boolean().optional(),
  })
  .strict() satisfies z.ZodType<HostDrive>;

export const netdevSchema = z
  .object({
    id: identifier.describe("the name devices use: netdev=ID"),
    type: z.string().min(1).describe("backend type on this host (user, tap, ...)"),
    options: z.record(z.string(), propertyValue).optional(),
  })
  .strict() satisfies z.ZodType<HostNetdev>;

export const hostConfigSchema = z
  .object({
    drives: z.array(driveSchema).optional(),
    netdevs: z.array(netdevSchema).optional(),
  })
  .strict()
  .describe("host configuration: backends devices refer to by name; never changes what the guest sees") satisfies z.ZodType<HostConfig>;

export const machineConfigSchema = z
  .object({
    machbus: z.literal(CONFIG_FORMAT).describe("config file format version"),
    complete: z
      .boolean()
      .optional()
      .describe("true in a dump: every address and property is recorded and kept; absent: omitted ones get current defaults"),
    machine: z
      .object({
        type: z.string().min(1).describe("machine type or alias (a dump records the resolved type, never an alias)"),
        memory: z.union([z.string(), z.number().int().positive()]).optional().describe("guest RAM: bytes, or 64M, 1G"),
        options: z.record(z.string(), propertyValue).optional().describe("board options, e.g. ecam: 0xb0000000"),
      })
      .strict(),
    allocator: z
      .string()
      .min(1)
      .optional()
      .describe(
        "slot-allocation policy for devices without addr, as for --allocator: qemu (default), auto-bridge, hotplug-reserve,free=2, ...",
      ),
    globals: z.array(z.string()).optional().describe("DRIVER.PROP=VALUE defaults, as for --global"),
    devices: z.array(deviceEntrySchema).optional(),
    host: hostConfigSchema.optional(),
  })
  .strict();

export type MachineConfig = z.infer<typeof machineConfigSchema>;
export type DeviceEntry = z.infer<typeof deviceEntrySchema>;
export type { HostConfig, HostDrive, HostNetdev };

/**
 * What a machine file or experiment spec may hold, checked before the work each bounds: the YAML
 * parser's time and memory grow with the text, its recursion with the nesting, alias expansion
 * can multiply a small file, and building a machine grows with its devices.
 */
export const FILE_LIMITS = {
  /** Characters of text: a complete dump of a machine with 4,000 devices takes about 3 MB. */
  size: 8 * 2 ** 20,
  /** Levels of nested maps and lists (a machine file needs 5). */
  nesting: 64,
  /** Nodes that aliases may expand to, as the YAML parser counts them (yaml's maxAliasCount). */
  aliases: 1000,
  devices: 16384,
} as const;

/** Parses a machine-definition file (YAML, or JSON, which YAML reads too); errors name file, line and field. */
export function parseMachineConfig(text: string, file: string): MachineConfig {
  return parseWith(machineConfigSchema, text, file, checkDeviceCount);
}

function checkDeviceCount(value: unknown, file: string): void {
  const devices = (value as { devices?: unknown } | null)?.devices;
  if (Array.isArray(devices) && devices.length > FILE_LIMITS.devices) {
    throw limitError(file, `${devices.length} devices`, "devices", `${FILE_LIMITS.devices} devices`);
  }
}

function limitError(file: string, what: string, limit: keyof typeof FILE_LIMITS, max: string): MachbusError {
  return new MachbusError("file-invalid", `${file}: ${what} is over the limit on ${limit} (at most ${max})`);
}

/** Parses a host-configuration file (the `host:` section on its own). */
export function parseHostConfig(text: string, file: string): HostConfig {
  return parseWith(hostConfigSchema, text, file);
}

/** Parses YAML (or JSON) text and checks it against `schema`; errors name file, line and field (experiment specs use it too). */
export function parseWith<T>(schema: z.ZodType<T>, text: string, file: string, check?: (value: unknown, file: string) => void): T {
  if (text.length > FILE_LIMITS.size) {
    throw limitError(file, `${text.length} characters`, "size", `${FILE_LIMITS.size} characters`);
  }
  if (flowNesting(text) > FILE_LIMITS.nesting) {
    throw limitError(file, "the nesting of [ and {", "nesting", `${FILE_LIMITS.nesting} levels`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new MachbusError("file-invalid", `${file}:${pos.line}:${pos.col}: ${e.message.split("\n")[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: FILE_LIMITS.aliases });
  } catch (e) {
    // yaml's own guard against alias bombs (a ReferenceError): a limit of the file, not a bug.
    if (e instanceof ReferenceError && /alias/i.test(e.message)) {
      throw limitError(file, "alias expansion", "aliases", `${FILE_LIMITS.aliases} nodes`);
    }
    throw e;
  }
  check?.(value, file);
  return validateWith(schema, value, file, (path, key) => {
    const node: unknown = path.length ? doc.getIn(path as (string | number)[], true) : doc.contents;
    // An unknown key is shown on its own line, not on the first line of the mapping holding it.
    const at = (key !== undefined && isMap(node) ? node.items.find((p) => isScalar(p.key) && p.key.value === key)?.key : node) as
      { range?: [number, number, number] } | undefined;
    return at?.range ? `:${lines.linePos(at.range[0]).line}` : "";
  });
}

/** Checks a machine definition given as an object (a script's default export); errors name the file and field. */
export function checkMachineConfig(value: unknown, file: string): MachineConfig {
  checkDeviceCount(value, file);
  return validateWith(machineConfigSchema, value, file, () => "");
}

/**
 * The deepest nesting of flow collections ([ and {) outside quotes and comments: the parser
 * recurses once per level, so this is checked before parsing. A bracket inside a plain scalar
 * counts too, which only makes the check stricter.
 */
function flowNesting(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth = Math.max(0, depth - 1);
    else if (c === 0x22 || c === 0x27) {
      // Skip a quoted scalar ("..." with \ escapes, '...' with '' escapes).
      for (i++; i < text.length && text.charCodeAt(i) !== c; i++) if (c === 0x22 && text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x23 && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text.charCodeAt(i) !== 0x0a) i++;
    }
  }
  return max;
}

/**
 * Refuses what a parsed file holds beyond the limits zod cannot see: block nesting deeper than
 * the limit, and keys named "__proto__" (zod's records would drop them without a word).
 */
function checkShape(value: unknown, file: string): void {
  const stack: [unknown, number, string][] = [[value, 0, ""]];
  while (stack.length) {
    const [v, depth, path] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth >= FILE_LIMITS.nesting)
      throw limitError(file, `the nesting at ${path || "(top level)"}`, "nesting", `${FILE_LIMITS.nesting} levels`);
    if (Array.isArray(v)) v.forEach((item, i) => stack.push([item, depth + 1, `${path}[${i}]`]));
    else {
      for (const key of Object.keys(v)) {
        const at = path ? `${path}.${key}` : key;
        if (key === "__proto__") throw new MachbusError("file-invalid", `${file}: ${at}: '__proto__' is not a valid name`);
        stack.push([(v as Record<string, unknown>)[key], depth + 1, at]);
      }
    }
  }
}

/** Checks a parsed value against `schema`; `lineOf` finds the line of a field (or of the key `key` in it). */
export function validateWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  file: string,
  lineOf: (path: PropertyKey[], key?: string) => string,
): T {
  checkShape(value, file);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
  const line = lineOf(issue.path, issue.code === "unrecognized_keys" ? issue.keys[0] : undefined);
  throw new MachbusError("file-invalid", `${file}${line}: ${path || "(top level)"}: ${describeIssue(issue)}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys")
    return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
  if (issue.code === "invalid_value" && "values" in issue) return `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}`;
  // A value no alternative takes by type (zod names the matching one's problem itself).
  if (issue.code === "invalid_union" && issue.errors.length && issue.errors.every((b) => b[0]?.code === "invalid_type")) {
    return `expected ${issue.errors.map((b) => (b[0] as z.core.$ZodIssueInvalidType).expected).join(" or ")}`;
  }
  return issue.message;
}

/** Config value -> the text form a device spec carries (QEMU's spellings). */
function specValue(v: string | number | boolean): string {
  return typeof v === "boolean" ? (v ? "on" : "off") : String(v);
}

/**
 * Machine options for a config. Devices with an address are placed first, in file order, then
 * the rest: a device added to a dump without `addr` then never takes a slot a recorded one holds.
 * Drives (entries with an `address`, or on a controller's bus: a name `X.N` other than pci.N and
 * isa.N) come after every other device, those with an address first, for the same reason.
 */
export function machineOptionsFromConfig(config: MachineConfig, file: string, host?: HostConfig): MachineOptions {
  const options = Object.entries(config.machine.options ?? {}).map(([k, v]) => `${k}=${specValue(v)}`);
  const entries = (config.devices ?? []).map((d, i) => ({ d, i }));
  const drive = (d: DeviceEntry): boolean => d.address !== undefined || (d.bus !== undefined && CONTROLLER_BUS.test(d.bus));
  const group = (d: DeviceEntry): number => (drive(d) ? 2 : 0) + (d.addr !== undefined || d.address !== undefined ? 0 : 1);
  const ordered = [0, 1, 2, 3].flatMap((g) => entries.filter((e) => group(e.d) === g));
  const devices: DeviceSpec[] = ordered.map(({ d, i }) => ({
    driver: d.driver,
    id: d.id ?? null,
    bus: d.bus ?? null,
    props: [
      ...(d.addr !== undefined ? [["addr", d.addr] as const] : []),
      ...Object.entries(d.address ?? {}).map(([k, v]) => [k, String(v)] as const),
      ...Object.entries(d.properties ?? {}).map(([k, v]) => [k, specValue(v)] as const),
    ],
    where: `${file}: devices[${i}] (${d.driver}${d.id ? `,id=${d.id}` : ""})`,
    ...(d.addedBy !== undefined ? { addedBy: d.addedBy } : {}),
  }));
  const result: MachineOptions = {
    machine: [config.machine.type, ...options].join(","),
    devices,
    globals: config.globals ?? [],
    host: host ?? config.host ?? {},
  };
  if (config.machine.memory !== undefined) result.memory = config.machine.memory;
  if (config.allocator !== undefined) result.allocator = config.allocator;
  return result;
}

/** Everything guest-visible about `machine`, as a complete config (`machbus dump-config`). */
export function dumpMachineConfig(machine: Machine, options: { withHost?: boolean } = {}): MachineConfig {
  const devices: DeviceEntry[] = [];
  for (const { device, info, props, addedBy } of dumpedDevices(machine)) {
    const entry: DeviceEntry = { driver: info.name };
    if (device.id) entry.id = device.id;
    const properties: Record<string, string | number | boolean> = {};
    const address = device instanceof BusDevice ? (device.bus!.spec.addressing?.properties ?? []) : [];
    // The driver's own properties first, then the common ones every PCI device has.
    const names = Object.keys(info.properties);
    const common = new Set(Object.keys(pciCommonProperties));
    for (const name of [...names.filter((n) => !common.has(n)), ...names.filter((n) => common.has(n))]) {
      const def = info.properties[name]!;
      if (name === "addr" || address.includes(name) || !def.writable) continue;
      properties[name] = configValue(def, props[name]);
    }
    if (device instanceof PciDevice) {
      const fn = device.function;
      entry.bus = fn.bus!.name;
      entry.addr = `${(fn.devfn >> 3).toString(16).padStart(2, "0")}.${fn.devfn & 7}`;
    } else if (device instanceof IsaDevice) {
      entry.bus = machine.isaBus ?? "isa.0";
    } else {
      entry.bus = device.bus!.name;
      entry.address = Object.fromEntries(address.map((name) => [name, props[name] as number]));
    }
    entry.properties = properties;
    if (addedBy) entry.addedBy = addedBy;
    devices.push(entry);
  }
  const config: MachineConfig = {
    machbus: CONFIG_FORMAT,
    complete: true,
    machine: { type: machine.type.name, memory: formatMemory(machine.ramSize) },
    // The default policy is left out, so dumps of ordinary machines read as before.
    ...(machine.allocatorSpec !== DEFAULT_POLICY ? { allocator: machine.allocatorSpec } : {}),
    devices,
  };
  const boardOptions = Object.entries(machine.boardOptions);
  if (boardOptions.length) {
    config.machine.options = Object.fromEntries(boardOptions.map(([k, v]) => [k, configValue(machine.type.board.properties[k]!, v)]));
  }
  const host = machine.hostConfig;
  if (options.withHost !== false && (host.drives?.length || host.netdevs?.length)) {
    config.host = {};
    if (host.drives?.length) config.host.drives = host.drives;
    if (host.netdevs?.length) config.host.netdevs = host.netdevs;
  }
  return config;
}

/**
 * The devices a dump lists, in its order: the machine's own devices in creation order, drives
 * after the rest, as a reload creates them (so the next dump lists them the same way).
 */
export function dumpedDevices(machine: Machine): PlacedDevice[] {
  const placed = machine.devices().filter((p) => !p.onboard);
  return [...placed.filter((p) => !(p.device instanceof BusDevice)), ...placed.filter((p) => p.device instanceof BusDevice)];
}

/** A controller's bus as QEMU names it (`ide.0`, `scsi.1`, `<id>.0`), as opposed to PCI and ISA buses and bridges' ids. */
const CONTROLLER_BUS = /^(?!pci\.\d+$|pcie\.\d+$|isa\.\d+$).+\.\d+$/;

/** A resolved value as the file writes it: booleans and integers native, the rest in the property's own spelling. */
function configValue(def: PropertyDef<unknown>, value: unknown): string | number | boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "number" && def.type.cType) return value;
  return def.type.format(value);
}

/** A size in whole KiB, MiB or GiB as text; any other byte count as a number (a bare number in text means MiB). */
function formatMemory(bytes: number): string | number {
  for (const [unit, size] of [
    ["G", 2 ** 30],
    ["M", 2 ** 20],
    ["K", 2 ** 10],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}

/**
 * Plain scalars that YAML 1.1 readers (PyYAML, Ruby's Psych, ...) read as something other than a
 * string, though YAML 1.2 reads them as strings: MACs such as 52:54:00:12:34:56 (base-60 integers),
 * on/off/yes/no/y/n, 0b101, 1_000, 2001-12-14, and `=` (1.1's value key). Written quoted.
 */
const YAML_1_1_TAGS = [
  ...new Schema({ schema: "yaml-1.1" }).tags,
  { tag: "tag:yaml.org,2002:value", default: true, test: /^=$/, resolve: (text: string) => text } satisfies ScalarTag,
];

/** YAML (default) or JSON text of a config; the YAML reads back the same under YAML 1.1 and 1.2. */
export function formatMachineConfig(config: MachineConfig | HostConfig, format: "yaml" | "json" = "yaml"): string {
  return format === "json" ? JSON.stringify(config, null, 2) + "\n" : stringify(config, { lineWidth: 0, compat: YAML_1_1_TAGS });
}

/** The JSON Schema of machine-definition files, generated from the schema the loader validates with. */
export function machineConfigJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "machbus machine configuration",
    ...(z.toJSONSchema(machineConfigSchema) as Record<string, unknown>),
  };
}
