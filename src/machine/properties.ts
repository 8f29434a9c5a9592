import { MachbusError } from "../errors.js";

/**
 * Typed device properties (QEMU's qdev properties): each has a type that parses QEMU's
 * spellings, a default, and a description. A driver's schema is a record of these; the resolved
 * values reach the device's constructor typed as PropsOf<schema>.
 */
export interface PropertyType<T> {
  /** QEMU's name of the type, as `-device DRIVER,help` shows it: "uint32", "bool", "str", "OnOffAuto". */
  readonly name: string;
  /** For integers, QEMU's C type: errors then read "Parameter 'vectors' expects uint32_t". */
  readonly cType?: string;
  /** For enums: the accepted values (QEMU shows an enum's default, never a free string's). */
  readonly values?: readonly string[];
  /** For references to host backends (`drive=disk0`): which kind; QEMU calls their type "str". */
  readonly link?: "drive" | "netdev";
  /** Parses the text form; returns an error message (the valid forms) on bad input. */
  parse(text: string): { value: T } | { error: string };
  format(value: T): string;
}

export interface PropertyDef<T> {
  readonly type: PropertyType<T>;
  readonly default: T;
  readonly description: string;
  /** False for settings a guest cannot observe here (host links, PCIe-only knobs on conventional PCI): migration checks skip them. */
  readonly guestVisible: boolean;
  /** False for properties QEMU's `info qtree` does not list (QOM-only ones). */
  readonly inQtree: boolean;
  /** False for settings QEMU 7.2 no longer has (kept for older machine types): `-device DRIVER,help` omits them. */
  readonly inHelp: boolean;
  /** False for what QEMU lists but nobody may set (QOM children, statistics): dumps leave them out. */
  readonly writable: boolean;
}

export type PropertySchema = Record<string, PropertyDef<any>>;
export type PropsOf<S extends PropertySchema> = { -readonly [K in keyof S]: S[K] extends PropertyDef<infer T> ? T : never };

const BOOL_TRUE = new Set(["on", "yes", "true", "y"]);
const BOOL_FALSE = new Set(["off", "no", "false", "n"]);

/** Parses an unsigned integer as QEMU's string visitor does (strtoull base 0: 0x hex, 0 octal). */
export function parseInteger(text: string): number | null {
  const t = text.trim();
  let m: RegExpExecArray | null;
  let v: number;
  if ((m = /^([+-]?)0[xX]([0-9a-fA-F]+)$/.exec(t))) v = parseInt(m[2]!, 16) * (m[1] === "-" ? -1 : 1);
  else if ((m = /^([+-]?)0([0-7]+)$/.exec(t))) v = parseInt(m[2]!, 8) * (m[1] === "-" ? -1 : 1);
  else if (/^[+-]?[0-9]+$/.test(t)) v = parseInt(t, 10);
  else return null;
  return Number.isSafeInteger(v) ? v : null;
}

function integer(name: string, cType: string, min: number, max: number): PropertyType<number> {
  return {
    name,
    cType,
    parse(text) {
      const v = parseInteger(text);
      if (v === null) return { error: `a number (decimal, or hex with 0x)` };
      if (v < min || v > max) return { error: `a value between ${min} and ${max}` };
      return { value: v };
    },
    format: (v) => String(v),
  };
}

const bool: PropertyType<boolean> = {
  name: "bool",
  parse(text: string) {
    const t = text.toLowerCase();
    if (BOOL_TRUE.has(t)) return { value: true };
    if (BOOL_FALSE.has(t)) return { value: false };
    return { error: "on or off" };
  },
  format: (v: boolean) => (v ? "on" : "off"),
};

const str: PropertyType<string> = {
  name: "str",
  parse: (text: string) => ({ value: text }),
  format: (v: string) => v,
};

/** QEMU's pci-devfn: "SLOT[.FN]" in hex (0x prefixes allowed, as sscanf %x takes them). */
const pciDevfn: PropertyType<number> = {
  name: "int32",
  parse(text: string) {
    const m = /^\s*([+-]?(?:0[xX])?[0-9a-fA-F]+)(?:\.\s*([+-]?(?:0[xX])?[0-9a-fA-F]+))?$/.exec(text);
    if (!m) return { error: "SLOT[.FUNCTION] in hex, slot 0-1f, function 0-7" };
    const slot = parseInt(m[1]!.replace(/^([+-]?)0[xX]/, "$1"), 16);
    const fn = m[2] === undefined ? 0 : parseInt(m[2].replace(/^([+-]?)0[xX]/, "$1"), 16);
    if (!(slot >= 0 && slot <= 0x1f && fn >= 0 && fn <= 7)) return { error: "SLOT[.FUNCTION] in hex, slot 0-1f, function 0-7" };
    return { value: (slot << 3) | fn };
  },
  format: (v: number) => (v < 0 ? "-1" : `${(v >> 3).toString(16).padStart(2, "0")}.${v & 7}`),
};

const macaddr: PropertyType<string> = {
  name: "str",
  parse(text: string) {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return { error: "a MAC address such as 52:54:00:12:34:56" };
    return { value: text.toLowerCase() };
  },
  format: (v: string) => v,
};

/** QEMU's size type: bytes, with an optional k/M/G/T suffix (binary units). */
const size: PropertyType<number> = {
  name: "size",
  parse(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT])?[bB]?\s*$/.exec(text);
    let v: number | null;
    if (m) v = Math.round(parseFloat(m[1]!) * 1024 ** " kmgt".indexOf((m[2] ?? " ").toLowerCase()));
    else v = parseInteger(text);
    if (v === null || !Number.isSafeInteger(v) || v < 0) return { error: "a size in bytes, optionally with a k, M, G or T suffix" };
    return { value: v };
  },
  format: (v) => String(v),
};

export const types = {
  bool,
  uint8: integer("uint8", "uint8_t", 0, 0xff),
  uint16: integer("uint16", "uint16_t", 0, 0xffff),
  uint32: integer("uint32", "uint32_t", 0, 0xffffffff),
  /** QEMU's uint64, within what a JS number holds exactly. */
  uint64: integer("uint64", "uint64_t", 0, Number.MAX_SAFE_INTEGER),
  int32: integer("int32", "int32_t", -0x80000000, 0x7fffffff),
  size,
  /** QOM's "int" (int64_t), within what a JS number holds exactly. */
  int: integer("int", "int64_t", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  str,
  pciDevfn,
  macaddr,
  enumOf<const V extends string>(values: readonly V[]): PropertyType<V> {
    return {
      name: qapiEnumName(values) ?? values.join("/"),
      values,
      parse(text) {
        return (values as readonly string[]).includes(text) ? { value: text as V } : { error: values.join(", ") };
      },
      format: (v) => v,
    };
  },
};

/**
 * QEMU's QAPI enum types, by their values: device models declare an enum by what it accepts, and
 * `-device DRIVER,help` shows QEMU's name for it.
 */
const QAPI_ENUMS: Record<string, readonly string[]> = {
  OnOffAuto: ["auto", "on", "off"],
  BlockdevOnError: ["report", "ignore", "enospc", "stop", "auto"],
  BiosAtaTranslation: ["auto", "none", "lba", "large", "rechs"],
};

function qapiEnumName(values: readonly string[]): string | undefined {
  const sameValues = (known: readonly string[]): boolean => known.length === values.length && known.every((v) => values.includes(v));
  return Object.keys(QAPI_ENUMS).find((name) => sameValues(QAPI_ENUMS[name]!));
}

/**
 * A reference to a host backend by name (`drive=disk0`, `netdev=net0`): host configuration, never
 * guest-visible; the machine checks the name exists in its host config.
 */
export function hostLink(kind: "drive" | "netdev"): PropertyType<string> {
  return { name: "str", link: kind, parse: (text) => ({ value: text }), format: (v) => v };
}

/**
 * QEMU's link<TYPE> property naming a QOM object (`iothread=io0`): host configuration, not in
 * `info qtree`, never guest-visible.
 */
export function objectLink(qomType: string, description: string): PropertyDef<string> {
  const type: PropertyType<string> = { name: `link<${qomType}>`, parse: (text) => ({ value: text }), format: (v) => v };
  return prop(type, "", description, { guestVisible: false, inQtree: false });
}

export function prop<T>(
  type: PropertyType<T>,
  defaultValue: T,
  description: string,
  options: { guestVisible?: boolean; inQtree?: boolean; inHelp?: boolean; writable?: boolean } = {},
): PropertyDef<T> {
  return {
    type,
    default: defaultValue,
    description,
    guestVisible: options.guestVisible ?? type.link === undefined,
    inQtree: options.inQtree ?? true,
    inHelp: options.inHelp ?? true,
    writable: options.writable ?? true,
  };
}

/**
 * Resolves one property's text value, naming driver, property and the valid forms on error
 * (QEMU: "Property 'e1000.addr' doesn't take value 'zz'").
 */
export function parseProperty<T>(driver: string, name: string, def: PropertyDef<T>, text: string): T {
  const r = def.type.parse(text);
  if ("error" in r && def.type.cType) {
    throw new MachbusError("bad-property-value", `Parameter '${name}' expects ${def.type.cType} (${r.error})`);
  }
  if ("error" in r) {
    throw new MachbusError("bad-property-value", `Property '${driver}.${name}' doesn't take value '${text}' (expected ${r.error})`);
  }
  return r.value;
}

/** QEMU's bootindex: firmware boot order, a QOM property (so not in info qtree); no effect on the guest view. */
export const bootindexProperty = prop(types.int32, -1, "boot order for firmware (no effect on the guest view)", { inQtree: false });
