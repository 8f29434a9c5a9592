import { MachbusError } from "../errors.js";
import { ByteReader, ByteWriter } from "./binary.js";
import {
  present,
  type AnyField,
  type ArrayField,
  type KeptState,
  type PagesField,
  type ScalarField,
  type StateDescription,
  type TableField,
} from "./description.js";

/*
 * The one engine behind every device's state: save, check and load, each derived from the
 * state's description (src/state/description.ts). In the stream a state is
 *
 *   str name, u32 version, u32 length, body
 *   body = the fields of that version in order, then u8 count and the sub-sections (each a state)
 *
 * Scalars are big-endian at their width (bool: one byte, 0 or 1); an array is a u32 count (unless
 * the field fixes it) and its entries; a struct is its fields; a table is a u32 row count, then
 * per row a u32 row number and each column's entries for that row; pages are a u32 count, then
 * per allocated page its u32 number and its bytes.
 *
 * A load walks the stream twice with the same code: first to check it (nothing is changed), then
 * to apply it. Fields the stream's version lacks, and sub-sections the stream does not carry,
 * take their defaults, so the result never depends on what the device held before.
 */

/** What is wrong with a state in a stream; the caller says where (section, device). */
export class StateProblem extends Error {}

const WIDTH = { u8: 1, u16: 2, u32: 4 } as const;
const ARRAY_TYPES = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array } as const;

type Target = Record<string, any>;

// ---- save ----

/** Writes the states, u8 count first: a device's part of a section. */
export function writeStates(w: ByteWriter, kept: readonly KeptState[]): void {
  w.u8(kept.length);
  for (const k of kept) writeState(w, k.description, k.target);
}

function writeState(w: ByteWriter, d: StateDescription<any>, target: object): void {
  w.str(d.name).u32(d.version);
  const at = w.length;
  w.u32(0);
  writeFields(w, d.fields, d.version, target as Target);
  let needed = 0;
  for (const sub of d.subsections) if (sub.needed!(target)) needed++;
  w.u8(needed);
  for (const sub of d.subsections) if (sub.needed!(target)) writeState(w, sub, target);
  w.patchU32(at, w.length - at - 4);
}

function writeFields(w: ByteWriter, fields: readonly AnyField[], version: number, target: Target): void {
  for (const f of fields) {
    if (!present(f, version)) continue;
    switch (f.kind) {
      case "scalar":
        writeScalar(w, f, target[f.key]);
        break;
      case "array": {
        const a = target[f.key] as ArrayLike<number>;
        if (f.count < 0) w.u32(a.length);
        else if (a.length !== f.count) throw new Error(`state field ${f.path}: ${a.length} entries, the description fixes ${f.count}`);
        if (f.element === "u8") w.bytes(a as Uint8Array);
        else w.numbers(a, WIDTH[f.element]);
        break;
      }
      case "struct":
        writeFields(w, f.fields, version, target[f.key] as Target);
        break;
      case "table":
        writeTable(w, f, target);
        break;
      case "pages":
        writePages(w, f, target[f.key] as (Uint8Array | undefined)[]);
        break;
    }
  }
}

function writePages(w: ByteWriter, f: PagesField, pages: (Uint8Array | undefined)[]): void {
  const at = w.length;
  w.u32(0);
  let written = 0;
  pages.forEach((page, n) => {
    if (page === undefined) return;
    if (page.length !== f.pageSize) throw new Error(`state field ${f.path}: page ${n} holds ${page.length} bytes, not ${f.pageSize}`);
    w.u32(n).bytes(page);
    written++;
  });
  w.patchU32(at, written);
}

function writeScalar(w: ByteWriter, f: ScalarField, v: any): void {
  switch (f.type) {
    case "u8":
      w.u8(v);
      break;
    case "u16":
      w.u16(v);
      break;
    case "u32":
      w.u32(v);
      break;
    case "i32":
      w.i32(v);
      break;
    case "f64":
      w.f64(v);
      break;
    case "u64":
      w.u64(v);
      break;
    case "bool":
      w.u8(v ? 1 : 0);
      break;
  }
}

function tableRows(f: TableField, target: Target): number {
  const first = f.columns[0]!;
  const a = target[first.key] as ArrayLike<number> | null;
  return (a === null ? f.lazy : a.length) / first.per;
}

function writeTable(w: ByteWriter, f: TableField, target: Target): void {
  const at = w.length;
  w.u32(0);
  let written = 0;
  const c = f.columns[0]!;
  if (f.columns.length === 1 && c.per === 1 && c.resetFrom === undefined && c.element === "u32") {
    // A sparse array: (index, value) for the entries that differ from the fill.
    const a = target[c.key] as Uint32Array | null;
    if (a !== null) {
      for (let i = nextDifferent(a, c.fill, 0); i < a.length; i = nextDifferent(a, c.fill, i + 1)) {
        w.u32(i).u32(a[i]!);
        written++;
      }
    }
  } else {
    const rows = tableRows(f, target);
    for (let row = 0; row < rows; row++) {
      if (rowPristine(f, target, row)) continue;
      w.u32(row);
      for (const col of f.columns) w.numbers(target[col.key] as ArrayLike<number>, WIDTH[col.element], row * col.per, col.per);
      written++;
    }
  }
  w.patchU32(at, written);
}

/** The first index from `from` on whose entry is not `fill` (a.length if none): register blocks are large and mostly zero. */
function nextDifferent(a: Uint32Array, fill: number, from: number): number {
  let i = from;
  if (fill === 0) while (i + 4 <= a.length && (a[i]! | a[i + 1]! | a[i + 2]! | a[i + 3]!) === 0) i += 4;
  while (i < a.length && a[i] === fill) i++;
  return i;
}

function rowPristine(f: TableField, target: Target, row: number): boolean {
  for (const c of f.columns) {
    const a = target[c.key] as ArrayLike<number> | null;
    if (a === null) continue;
    const pristine = c.resetFrom === undefined ? null : (target[c.resetFrom] as ArrayLike<number>);
    for (let k = row * c.per; k < (row + 1) * c.per; k++) if (a[k] !== (pristine ? pristine[k] : c.fill)) return false;
  }
  return true;
}

// ---- check and load ----

/** Reads one state's bytes within [pos, end), naming the field it was in when they run out. */
export class StateReader extends ByteReader {
  /** The field being read, for errors. */
  field = "";

  constructor(data: Uint8Array, pos = 0, end = data.length) {
    super(data, "state", pos, end);
  }

  protected override truncated(short: number): Error {
    const what = this.field ? `field ${this.field}` : "its framing";
    return new StateProblem(`ends inside ${what} (${short} more byte${short === 1 ? "" : "s"} needed)`);
  }

  protected override notUtf8(): Error {
    return new StateProblem("has a name that is not valid UTF-8");
  }
}

/** A state's framing: name, version, and where its body ends. */
interface Header {
  name: string;
  version: number;
  end: number;
}

function readHeader(r: StateReader): Header {
  r.field = "";
  const name = r.str();
  const version = r.u32();
  const length = r.u32();
  if (length > r.end - r.pos) {
    throw new StateProblem(`'${visible(name)}' state claims ${length} bytes, more than the ${r.end - r.pos} left`);
  }
  return { name, version, end: r.pos + length };
}

function checkVersion(d: StateDescription<any>, version: number): void {
  if (version > d.version) throw new StateProblem(`'${d.name}' state version ${version} is newer than this device's ${d.version}`);
  if (version < d.minimumVersion) {
    throw new StateProblem(`'${d.name}' state version ${version} is older than the oldest this machbus reads (${d.minimumVersion})`);
  }
}

/**
 * Checks a device's states as `writeStates` wrote them, changing nothing: every state known,
 * none twice, none of `kept` missing, versions in range, every field well formed and accepted.
 */
export function checkStates(r: StateReader, kept: readonly KeptState[]): void {
  r.field = "";
  const n = r.u8();
  let seen = 0; // kept states are at most 31 (see keepState)
  const unknown: string[] = [];
  for (let i = 0; i < n; i++) {
    const h = readHeader(r);
    const k = find(kept, h.name);
    if (k < 0) {
      unknown.push(visible(h.name));
      r.pos = h.end;
      continue;
    }
    if (seen & (1 << k)) throw new StateProblem(`has '${h.name}' state twice`);
    seen |= 1 << k;
    readState(r, kept[k]!.description, kept[k]!.target, h, false);
  }
  for (let k = 0; k < kept.length; k++) {
    if (!(seen & (1 << k))) throw new StateProblem(`has no '${kept[k]!.description.name}' state, which this device needs`);
  }
  if (unknown.length) throw new StateProblem(`has state this device does not know: ${unknown.join(", ")}`);
}

/** Loads what `checkStates` accepted. */
export function applyStates(r: StateReader, kept: readonly KeptState[]): void {
  const n = r.u8();
  for (let i = 0; i < n; i++) {
    const h = readHeader(r);
    const k = kept[find(kept, h.name)]!;
    readState(r, k.description, k.target, h, true);
  }
}

function find(kept: readonly KeptState[], name: string): number {
  for (let k = 0; k < kept.length; k++) if (kept[k]!.description.name === name) return k;
  return -1;
}

function readState(r: StateReader, d: StateDescription<any>, target: object, h: Header, apply: boolean, kind = "state"): void {
  const outer = r.end;
  r.end = h.end;
  try {
    if (!apply) checkVersion(d, h.version);
    readBody(r, d, h.version, target as Target, apply);
    if (r.pos !== h.end) throw new StateProblem(`${h.end - r.pos} unexpected bytes at the end of '${d.name}' state`);
  } catch (e) {
    if (!(e instanceof StateProblem) || e.message.startsWith(`'${d.name}' state`)) throw e;
    throw new StateProblem(kind === "state" ? `'${d.name}' state: ${e.message}` : `sub-section '${d.name}': ${e.message}`);
  }
  r.end = outer;
}

function readBody(r: StateReader, d: StateDescription<any>, version: number, target: Target, apply: boolean): void {
  readFields(r, d.fields, version, target, apply);
  r.field = "";
  const n = r.u8();
  let seen = 0;
  for (let i = 0; i < n; i++) {
    const h = readHeader(r);
    const s = d.subsections.findIndex((x) => x.name === h.name);
    if (s < 0) throw new StateProblem(`has sub-section '${visible(h.name)}', which this device does not know`);
    if (seen & (1 << s)) throw new StateProblem(`has sub-section '${h.name}' twice`);
    seen |= 1 << s;
    readState(r, d.subsections[s]!, target, h, apply, "sub-section");
  }
  if (apply) {
    // Not in the stream: the source's `needed` said the sub-section held nothing but defaults.
    d.subsections.forEach((sub, s) => {
      if (!(seen & (1 << s))) resetState(sub, target);
    });
    d.loaded?.(target, version);
  }
}

function readFields(r: StateReader, fields: readonly AnyField[], version: number, target: Target, apply: boolean): void {
  for (const f of fields) {
    if (!present(f, version)) {
      // A field of other versions; its key may be written by this version's encoding of it.
      if (apply && !fields.some((g) => g !== f && g.key === f.key && present(g, version))) resetField(f, target);
      continue;
    }
    r.field = f.path;
    switch (f.kind) {
      case "scalar": {
        const value = readScalar(r, f);
        if (apply) target[f.key] = value;
        else if (f.check) {
          const problem = f.check(value as never, target as never);
          if (problem) throw new StateProblem(problem);
        }
        break;
      }
      case "array":
        readArray(r, f, target, apply);
        break;
      case "struct":
        readFields(r, f.fields, version, target[f.key] as Target, apply);
        break;
      case "table":
        readTable(r, f, target, apply);
        break;
      case "pages":
        readPages(r, f, target[f.key] as (Uint8Array | undefined)[], apply);
        break;
    }
  }
}

function readPages(r: StateReader, f: PagesField, pages: (Uint8Array | undefined)[], apply: boolean): void {
  const n = r.u32();
  if (n > pages.length) throw new StateProblem(`field ${f.path}: ${n} pages in the stream; the device has ${pages.length}`);
  r.need(n * (4 + f.pageSize));
  if (apply) pages.fill(undefined);
  let last = -1;
  for (let i = 0; i < n; i++) {
    const page = r.u32();
    if (!apply) {
      if (page >= pages.length) throw new StateProblem(`field ${f.path}: page ${page} is past the device's ${pages.length}`);
      if (page <= last) throw new StateProblem(`field ${f.path}: page ${page} follows page ${last} (pages must increase)`);
      last = page;
    } else {
      pages[page] = r.data.slice(r.pos, r.pos + f.pageSize);
    }
    r.pos += f.pageSize;
  }
}

function readScalar(r: StateReader, f: ScalarField): number | bigint | boolean {
  switch (f.type) {
    case "u8":
      return r.u8();
    case "u16":
      return r.u16();
    case "u32":
      return r.u32();
    case "i32":
      return r.i32();
    case "f64":
      return r.f64();
    case "u64":
      return r.u64();
    case "bool": {
      const b = r.u8();
      if (b > 1) throw new StateProblem(`field ${f.path}: ${b} is not a boolean (0 or 1)`);
      return b === 1;
    }
  }
}

function readArray(r: StateReader, f: ArrayField, target: Target, apply: boolean): void {
  const a = target[f.key] as Uint8Array | Uint16Array | Uint32Array;
  const width = WIDTH[f.element];
  const n = f.count >= 0 ? f.count : r.u32();
  if (n !== a.length) {
    throw new StateProblem(
      f.count >= 0
        ? `field ${f.path}: this version holds ${n} entries; the device has ${a.length}`
        : `field ${f.path}: ${n} entries in the stream; the device has ${a.length}`,
    );
  }
  r.need(n * width);
  if (apply) {
    if (width === 1) a.set(r.data.subarray(r.pos, r.pos + n));
    else for (let i = 0; i < n; i++) a[i] = r.at(i, width);
  } else if (f.check) {
    let values: ArrayLike<number>;
    if (width === 1) values = r.data.subarray(r.pos, r.pos + n);
    else {
      const copy = new ARRAY_TYPES[f.element](n);
      for (let i = 0; i < n; i++) copy[i] = r.at(i, width);
      values = copy;
    }
    const problem = f.check(values, target as never);
    if (problem) throw new StateProblem(problem);
  }
  r.pos += n * width;
}

function readTable(r: StateReader, f: TableField, target: Target, apply: boolean): void {
  const rows = tableRows(f, target);
  const n = r.u32();
  if (n > rows) throw new StateProblem(`field ${f.path}: ${n} entries in the stream; the device has ${rows}`);
  let rowBytes = 4;
  for (const c of f.columns) rowBytes += c.per * WIDTH[c.element];
  r.need(n * rowBytes);
  if (apply) {
    resetTable(f, target);
    if (f.lazy && n > 0) target[f.key] = new ARRAY_TYPES[f.columns[0]!.element](f.lazy);
  }
  let last = -1;
  for (let i = 0; i < n; i++) {
    const row = r.u32();
    if (!apply) {
      if (row >= rows) throw new StateProblem(`field ${f.path}: entry ${row} is past the device's ${rows}`);
      if (row <= last) throw new StateProblem(`field ${f.path}: entry ${row} follows entry ${last} (entries must increase)`);
      last = row;
    }
    for (const c of f.columns) {
      const width = WIDTH[c.element];
      const a = target[c.key] as Uint32Array;
      for (let k = 0; k < c.per; k++, r.pos += width) {
        const v = r.at(0, width);
        if (apply) a[row * c.per + k] = v;
        else if (c.check) {
          const problem = c.check(v, row, target as never);
          if (problem) throw new StateProblem(problem);
        }
      }
    }
  }
}

function resetState(d: StateDescription<any>, target: Target): void {
  for (const f of d.fields) if (present(f, d.version)) resetField(f, target);
  for (const sub of d.subsections) resetState(sub, target);
}

function resetField(f: AnyField, target: Target): void {
  switch (f.kind) {
    case "scalar":
      target[f.key] = f.default;
      break;
    case "array":
      (target[f.key] as Uint32Array).fill(f.fill);
      break;
    case "struct":
      for (const g of f.fields) resetField(g, target[f.key] as Target);
      break;
    case "table":
      resetTable(f, target);
      break;
    case "pages":
      (target[f.key] as (Uint8Array | undefined)[]).fill(undefined);
      break;
  }
}

/** Every row pristine again; a lazy array goes back to null. */
function resetTable(f: TableField, target: Target): void {
  if (f.lazy) {
    target[f.key] = null;
    return;
  }
  for (const c of f.columns) {
    const a = target[c.key] as Uint32Array;
    if (c.resetFrom === undefined) a.fill(c.fill);
    else a.set(target[c.resetFrom] as Uint32Array);
  }
}

/** A name read from a possibly corrupt stream, fit for an error message: control characters as \xNN. */
export function visible(name: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// ---- one state on its own (embedders, tools) ----

/** One record's state as bytes (the states framing, with this one state). */
export function saveState<T extends object>(description: StateDescription<T>, target: T): Uint8Array {
  const w = new ByteWriter(256);
  writeStates(w, [{ description, target }]);
  return w.result();
}

/** Loads what `saveState` wrote, checking all of it first; `label` names the bytes in errors. */
export function loadState<T extends object>(description: StateDescription<T>, target: T, bytes: Uint8Array, label = "state"): void {
  const kept = [{ description, target }];
  const r = new StateReader(bytes);
  try {
    checkStates(r, kept);
    if (r.pos !== bytes.length) throw new StateProblem(`${bytes.length - r.pos} unexpected bytes after the state`);
  } catch (e) {
    if (e instanceof StateProblem) throw new MachbusError("state-invalid", `${label}: ${e.message}`);
    throw e;
  }
  applyStates(new StateReader(bytes), kept);
}
