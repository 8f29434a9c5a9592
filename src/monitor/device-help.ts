import { parseDeviceSpec } from "../machine/device-spec.js";
import { driverInfo, type DriverCatalogue, type DriverCategory, type DriverInfo } from "../machine/drivers.js";
import type { PropertyDef } from "../machine/properties.js";

/** QEMU's headings of `-device help` (qdev_category_names), in QEMU's order. */
const CATEGORY_HEADINGS: Record<DriverCategory, string> = {
  bridge: "Controller/Bridge/Hub devices",
  usb: "USB devices",
  storage: "Storage devices",
  network: "Network devices",
  input: "Input devices",
  display: "Display devices",
  sound: "Sound devices",
  misc: "Misc devices",
};

/** QEMU's bus type names. */
const BUS_TYPES: Record<DriverInfo["bus"], string> = { pci: "PCI", isa: "ISA", ide: "IDE", scsi: "SCSI" };

/** QEMU's is_help_option. */
function isHelp(word: string): boolean {
  return word === "help" || word === "?";
}

/**
 * What QEMU prints for a `-device` or `device_add` argument that asks for help
 * (qdev_device_help): `help` as the driver lists the device models, a `help` option on a
 * driver (`e1000,help`, any other options aside) lists its properties. Null when the argument
 * asks for no help; an unknown driver is the usual error.
 */
export function deviceHelp(spec: string, drivers: DriverCatalogue): string | null {
  const { driver, props } = parseDeviceSpec(spec);
  if (isHelp(driver)) return formatDeviceList(drivers);
  if (!props.some(([key]) => isHelp(key))) return null;
  return formatDeviceProperties(driverInfo(drivers.find(driver)));
}

/** `-device help`: the user-creatable models by category, names compared as QEMU's strcasecmp does. */
export function formatDeviceList(drivers: DriverCatalogue): string {
  const infos = [...drivers]
    .map(driverInfo)
    .filter((i) => i.userCreatable)
    .sort((a, b) => compareBytes(a.name.toLowerCase(), b.name.toLowerCase()));
  const sections: string[] = [];
  for (const [category, heading] of Object.entries(CATEGORY_HEADINGS)) {
    const members = infos.filter((i) => i.category === category);
    if (members.length === 0) continue;
    sections.push(
      `${heading}:\n` +
        members.map((i) => `name "${i.name}", bus ${BUS_TYPES[i.bus]}${i.description ? `, desc "${i.description}"` : ""}\n`).join(""),
    );
  }
  return sections.join("\n");
}

/** `-device DRIVER,help`: one line per property, in QEMU's order (its lines sorted bytewise). */
export function formatDeviceProperties(info: DriverInfo): string {
  const names = Object.keys(info.properties)
    .filter((name) => info.properties[name]!.inHelp)
    // QEMU sorts whole lines: "name=" keeps that order whatever the descriptions say.
    .sort((a, b) => compareBytes(`${a}=`, `${b}=`));
  return `${info.name} options:\n` + names.map((name) => propertyLine(name, info.properties[name]!) + "\n").join("");
}

/** QEMU's object_property_help: `  name=<type>`, then ` - description (default: JSON)` from column 24. */
function propertyLine(name: string, def: PropertyDef<unknown>): string {
  const head = `  ${name}=<${def.type.name}>`;
  const defaultValue = helpDefault(def);
  if (!def.description && defaultValue === undefined) return head;
  return `${head.padEnd(24)} - ${def.description}${defaultValue === undefined ? "" : ` (default: ${defaultValue})`}`;
}

/**
 * The default as QEMU's help shows it (JSON), or undefined where QEMU shows none: QEMU has
 * defaults only for qdev properties (those `info qtree` lists, not QOM ones like bootindex) of
 * types that set one (booleans, numbers, enums), never for strings, MAC addresses or links.
 */
function helpDefault(def: PropertyDef<unknown>): string | undefined {
  const value = def.default;
  if (!def.inQtree) return undefined;
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  if (def.type.values && typeof value === "string") return JSON.stringify(value);
  return undefined;
}

/** strcmp order (UTF-16 code units, bytes for ASCII), not the locale's. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
