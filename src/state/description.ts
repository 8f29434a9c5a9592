/**
 * Declarative device state, after QEMU's VMStateDescription: a device lists the fields it keeps
 * (scalars of fixed widths, typed arrays, booleans, nested structs, sparse tables) with the version
 * each appeared in, and sub-sections with their own version and a `needed` test. One engine
 * (src/state/engine.ts) derives the stream layout, the check before a load and the load itself
 * from that list; no device writes offsets into a byte stream.
 *
 * A description names the keys of a plain object (the device's register record), so the type
 * checker sees that `u16("status")` names a number and `u32Array("regs")` a Uint32Array.
 */

/** Keys of T whose values are V (private class members are never keys: describe a record). */
export type KeysOf<T, V> = { [K in keyof T]-?: T[K] extends V ? K : never }[keyof T] & string;

export type ScalarType = "u8" | "u16" | "u32" | "i32" | "f64" | "u64" | "bool";
export type ElementType = "u8" | "u16" | "u32";
type TypedArray = Uint8Array | Uint16Array | Uint32Array;

interface Versioned {
  /** First description version that has the field (QEMU's VMSTATE_*_V); 1 when absent. */
  since?: number;
  /** Last version that has it: a field later versions dropped or encode differently. */
  until?: number;
}

export interface ScalarOptions<T, V> extends Versioned {
  /** What the field takes when the stream lacks it (an older version, an absent sub-section). */
  default?: V;
  /** Refuses a loaded value: a message naming what is wrong, or null. Runs before anything changes. */
  check?: (value: V, target: T) => string | null;
}

export interface ArrayOptions<T> extends Versioned {
  /** A fixed number of entries (the stream then holds no count); else the stream's count must match the target's length. */
  count?: number;
  /** Entry value when the stream lacks the field; 0 when absent. */
  fill?: number;
  /** Refuses loaded entries (a view of the stream's values); runs before anything changes. */
  check?: (values: ArrayLike<number>, target: T) => string | null;
}

export interface SparseOptions<T> extends Versioned {
  /** The value of an entry the stream does not list; 0 when absent. */
  fill?: number;
  /** The array may be null until an entry differs from `fill`: loading allocates this many entries. */
  lazy?: number;
  check?: (value: number, index: number, target: T) => string | null;
}

export interface ColumnOptions<T> {
  /** Entries per row (a queue's two address halves); 1 when absent. */
  per?: number;
  /** A row's pristine value; 0 when absent. */
  fill?: number;
  /** A per-row pristine value held in another array of the target (a queue's default size). */
  resetFrom?: KeysOf<T, TypedArray>;
  check?: (value: number, row: number, target: T) => string | null;
}

/** Field<T>: one entry of a description of T (the phantom keeps fields of different records apart). */
export type Field<T> = AnyField & { readonly __target?: (target: T) => void };

export type AnyField = ScalarField | ArrayField | StructField | TableField | PagesField;

interface FieldBase {
  readonly key: string;
  /** "eecd.valIn": how errors name the field. */
  readonly path: string;
  readonly since: number;
  readonly until: number;
}

export interface ScalarField extends FieldBase {
  readonly kind: "scalar";
  readonly type: ScalarType;
  readonly default: number | bigint | boolean;
  readonly check?: (value: never, target: never) => string | null;
}

export interface ArrayField extends FieldBase {
  readonly kind: "array";
  readonly element: ElementType;
  /** -1: the stream holds a u32 count. */
  readonly count: number;
  readonly fill: number;
  readonly check?: (values: ArrayLike<number>, target: never) => string | null;
}

export interface StructField extends FieldBase {
  readonly kind: "struct";
  readonly fields: readonly AnyField[];
}

export interface Column<T = unknown> {
  readonly __target?: (target: T) => void;
  readonly key: string;
  readonly element: ElementType;
  readonly per: number;
  readonly fill: number;
  readonly resetFrom?: string;
  readonly check?: (value: number, row: number, target: never) => string | null;
}

/** Rows across parallel arrays; only rows that differ from their pristine values are in the stream. */
export interface TableField extends FieldBase {
  readonly kind: "table";
  readonly columns: readonly Column<any>[];
  /** 0, or the length a null (not yet allocated) single column gets when rows load into it. */
  readonly lazy: number;
}

/** Memory allocated page by page on first write (VRAM): the stream holds the allocated pages, as (page, bytes). */
export interface PagesField extends FieldBase {
  readonly kind: "pages";
  readonly pageSize: number;
}

export interface StateSpec<T> {
  /** Unique among the states of one device, e.g. "e1000" or "msix"; a sub-section's within its parent. */
  name: string;
  /** The version this machbus writes; fields say which versions have them. */
  version: number;
  /** The oldest stream version still loaded; 1 when absent. */
  minimumVersion?: number;
  fields: Field<T>[];
  /** Parts written only when their `needed` test says so (QEMU's subsections). */
  subsections?: StateDescription<T>[];
  /** For a sub-section: whether the stream carries it. Absent from a stream, its fields take their defaults. */
  needed?: (target: T) => boolean;
  /** After the fields are loaded (QEMU's post_load): derive what follows from them. */
  loaded?: (target: T, version: number) => void;
}

/** A checked, immutable description; `describeState` builds one. */
export class StateDescription<T> {
  readonly name: string;
  readonly version: number;
  readonly minimumVersion: number;
  readonly fields: readonly AnyField[];
  readonly subsections: readonly StateDescription<T>[];
  readonly needed: ((target: T) => boolean) | null;
  readonly loaded: ((target: T, version: number) => void) | null;

  constructor(spec: StateSpec<T>) {
    this.name = spec.name;
    this.version = spec.version;
    this.minimumVersion = spec.minimumVersion ?? 1;
    this.fields = spec.fields;
    this.subsections = spec.subsections ?? [];
    this.needed = spec.needed ?? null;
    this.loaded = spec.loaded ?? null;
    const bad = (why: string): never => {
      throw new Error(`state description '${spec.name}': ${why}`);
    };
    if (!Number.isInteger(this.version) || this.version < 1) bad(`version ${this.version} is not a positive integer`);
    if (this.minimumVersion < 1 || this.minimumVersion > this.version) bad(`minimum version ${this.minimumVersion} is out of range`);
    checkFields(this.fields, this.version, bad);
    const names = new Set<string>();
    for (const sub of this.subsections) {
      if (!sub.needed) bad(`sub-section '${sub.name}' has no needed test`);
      if (names.has(sub.name)) bad(`two sub-sections are called '${sub.name}'`);
      names.add(sub.name);
    }
    if (this.subsections.length > 31) bad("more than 31 sub-sections");
  }
}

function checkFields(fields: readonly AnyField[], version: number, bad: (why: string) => never): void {
  for (let v = 1; v <= version; v++) {
    const keys = new Set<string>();
    for (const f of fields) {
      if (f.since > f.until) bad(`field ${f.path} is in no version (since ${f.since}, until ${f.until})`);
      if (!present(f, v)) continue;
      if (keys.has(f.key)) bad(`two fields of version ${v} are called ${f.path}`);
      keys.add(f.key);
    }
  }
  for (const f of fields) if (f.kind === "struct") checkFields(f.fields, version, bad);
}

/** Whether field `f` is in streams of `version`. */
export function present(f: AnyField, version: number): boolean {
  return f.since <= version && version <= f.until;
}

export function describeState<T>(spec: StateSpec<T>): StateDescription<T> {
  return new StateDescription(spec);
}

/** A description bound to the object it describes: what a function or ISA device keeps. */
export interface KeptState {
  readonly description: StateDescription<any>;
  readonly target: object;
}

export function keep<T extends object>(description: StateDescription<T>, target: T): KeptState {
  return { description, target };
}

// ---- field builders ----

const versions = (o: Versioned | undefined) => ({ since: o?.since ?? 1, until: o?.until ?? Number.MAX_SAFE_INTEGER });

function scalar<T, V>(type: ScalarType, key: string, fallback: V, options?: ScalarOptions<T, V>): Field<T> {
  return {
    kind: "scalar",
    type,
    key,
    path: key,
    ...versions(options),
    default: (options?.default ?? fallback) as number | bigint | boolean,
    check: options?.check as ScalarField["check"],
  };
}

export const u8 = <T>(key: KeysOf<T, number>, options?: ScalarOptions<T, number>): Field<T> => scalar("u8", key, 0, options);
export const u16 = <T>(key: KeysOf<T, number>, options?: ScalarOptions<T, number>): Field<T> => scalar("u16", key, 0, options);
export const u32 = <T>(key: KeysOf<T, number>, options?: ScalarOptions<T, number>): Field<T> => scalar("u32", key, 0, options);
export const i32 = <T>(key: KeysOf<T, number>, options?: ScalarOptions<T, number>): Field<T> => scalar("i32", key, 0, options);
/** A double: host-side timestamps (a timer's next overflow). */
export const f64 = <T>(key: KeysOf<T, number>, options?: ScalarOptions<T, number>): Field<T> => scalar("f64", key, 0, options);
export const u64 = <T>(key: KeysOf<T, bigint>, options?: ScalarOptions<T, bigint>): Field<T> => scalar("u64", key, 0n, options);
/** One byte, 0 or 1 (anything else is refused). */
export const bool = <T>(key: KeysOf<T, boolean>, options?: ScalarOptions<T, boolean>): Field<T> => scalar("bool", key, false, options);

function array<T>(element: ElementType, key: string, options?: ArrayOptions<T>): Field<T> {
  return {
    kind: "array",
    element,
    key,
    path: key,
    ...versions(options),
    count: options?.count ?? -1,
    fill: options?.fill ?? 0,
    check: options?.check as ArrayField["check"],
  };
}

function sparse<T>(element: ElementType, key: string, options?: SparseOptions<T>): Field<T> {
  return {
    kind: "table",
    key,
    path: key,
    ...versions(options),
    columns: [{ key, element, per: 1, fill: options?.fill ?? 0, check: options?.check as Column["check"] }],
    lazy: options?.lazy ?? 0,
  };
}

export const u8Array = <T>(key: KeysOf<T, Uint8Array>, options?: ArrayOptions<T>): Field<T> => array("u8", key, options);
export const u16Array = <T>(key: KeysOf<T, Uint16Array>, options?: ArrayOptions<T>): Field<T> => array("u16", key, options);
export const u32Array = <T>(key: KeysOf<T, Uint32Array>, options?: ArrayOptions<T>): Field<T> => array("u32", key, options);

/** An array saved as (index, value) for the entries that differ from `fill`: large, mostly empty register blocks. */
export const sparseU32Array = <T>(key: KeysOf<T, Uint32Array | null>, options?: SparseOptions<T>): Field<T> => sparse("u32", key, options);

/** Pages of `pageSize` bytes, each undefined until first written: only allocated pages are in the stream. */
export function pages<T>(key: KeysOf<T, (Uint8Array | undefined)[]>, pageSize: number, options?: Versioned): Field<T> {
  return { kind: "pages", key, path: key, ...versions(options), pageSize };
}

/** A nested record: `fields` describe `target[key]`. */
export function struct<T, K extends KeysOf<T, object>>(key: K, fields: Field<T[K]>[], options?: Versioned): Field<T> {
  const nest = (f: AnyField): AnyField =>
    f.kind === "struct" ? { ...f, path: `${key}.${f.path}`, fields: f.fields.map(nest) } : { ...f, path: `${key}.${f.path}` };
  return { kind: "struct", key, path: key, ...versions(options), fields: fields.map(nest) };
}

/** A column of a table: an array of the target holding `per` entries for each row. */
function column<T>(element: ElementType, key: string, options?: ColumnOptions<T>): Column<T> {
  return {
    key,
    element,
    per: options?.per ?? 1,
    fill: options?.fill ?? 0,
    resetFrom: options?.resetFrom,
    check: options?.check as Column["check"],
  };
}

export const columns = {
  u8: <T>(key: KeysOf<T, Uint8Array>, options?: ColumnOptions<T>): Column<T> => column("u8", key, options),
  u16: <T>(key: KeysOf<T, Uint16Array>, options?: ColumnOptions<T>): Column<T> => column("u16", key, options),
  u32: <T>(key: KeysOf<T, Uint32Array>, options?: ColumnOptions<T>): Column<T> => column("u32", key, options),
};

/**
 * Rows across parallel arrays of the target (per-queue registers): the stream lists the rows
 * that differ from their pristine values (each column's `fill` or `resetFrom`), as (row, values).
 * Loading puts every other row back to pristine. `name` names the table in the stream's errors.
 */
export function table<T>(name: string, cols: Column<T>[], options?: Versioned): Field<T> {
  return { kind: "table", key: name, path: name, ...versions(options), columns: cols, lazy: 0 };
}
