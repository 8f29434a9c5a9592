/**
 * A small AML (ACPI Machine Language) encoder with the encodings QEMU's hw/acpi/aml-build.c
 * chooses, so that tables built with it equal QEMU's byte for byte: the shortest integer
 * constant (Zero, One, then Byte/Word/DWord/QWord prefixes), package lengths in the fewest
 * bytes, name segments padded with '_'. Every term is its encoded bytes; containers take their
 * children's bytes in order. Browser-safe.
 */
export type Aml = readonly number[];

const cat = (parts: readonly Aml[]): number[] => parts.flat();

/** PkgLength: the length of `body` plus (for terms, not fields) the length bytes themselves. */
function pkgLength(length: number, inclSelf: boolean): number[] {
  const bytes = length + 1 < 1 << 6 ? 1 : length + 2 < 1 << 12 ? 2 : length + 3 < 1 << 20 ? 3 : 4;
  const total = inclSelf ? length + bytes : length;
  if (bytes === 1) return [total];
  const out = [((bytes - 1) << 6) | (total & 0x0f)];
  for (let i = 1; i < bytes; i++) out.push((total >> (4 + 8 * (i - 1))) & 0xff);
  return out;
}

/** A term with a package length: op bytes, PkgLength, then the body. */
const withPkg = (op: Aml, body: Aml[]): Aml => {
  const inner = cat(body);
  return [...op, ...pkgLength(inner.length, true), ...inner];
};

const nameSeg = (seg: string): number[] => {
  if (seg.length > 4) throw new Error(`AML name segment longer than 4 characters: ${seg}`);
  return Array.from(seg.padEnd(4, "_"), (c) => c.charCodeAt(0));
};

/** A NameString: root and parent prefixes, then one, two (DualNamePrefix) or more (MultiNamePrefix) segments. */
export function nameString(name: string): Aml {
  const out: number[] = [];
  let s = name;
  if (s.startsWith("\\")) {
    out.push(0x5c);
    s = s.slice(1);
  }
  while (s.startsWith("^")) {
    out.push(0x5e);
    s = s.slice(1);
  }
  const segs = s === "" ? [] : s.split(".");
  if (segs.length === 0) out.push(0x00);
  else if (segs.length === 1) out.push(...nameSeg(segs[0]!));
  else if (segs.length === 2) out.push(0x2e, ...nameSeg(segs[0]!), ...nameSeg(segs[1]!));
  else out.push(0x2f, segs.length, ...segs.flatMap(nameSeg));
  return out;
}

const le = (value: number | bigint, bytes: number): number[] => {
  const v = BigInt(value);
  return Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
};

/** An integer constant in its shortest encoding (QEMU's aml_int). */
export function int(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v === 0n) return [0x00];
  if (v === 1n) return [0x01];
  if (v <= 0xffn) return [0x0a, Number(v)];
  if (v <= 0xffffn) return [0x0b, ...le(v, 2)];
  if (v <= 0xffffffffn) return [0x0c, ...le(v, 4)];
  return [0x0e, ...le(v, 8)];
}

export const string = (s: string): Aml => [0x0d, ...Array.from(s, (c) => c.charCodeAt(0)), 0x00];

/** A compressed EISA ID ("PNP0A03") as a DWord constant. */
export function eisaId(id: string): Aml {
  const c = (i: number): number => id.charCodeAt(i) - 0x40;
  const value = ((c(0) << 26) | (c(1) << 21) | (c(2) << 16) | parseInt(id.slice(3), 16)) >>> 0;
  return [0x0c, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

export const name = (path: string): Aml => nameString(path);
export const local = (n: number): Aml => [0x60 + n];
export const arg = (n: number): Aml => [0x68 + n];
export const debug: Aml = [0x5b, 0x31];
const NULL_NAME: Aml = [0x00];

// ---- named objects and containers
export const scope = (path: string, ...body: Aml[]): Aml => withPkg([0x10], [nameString(path), ...body]);
export const device = (path: string, ...body: Aml[]): Aml => withPkg([0x5b, 0x82], [nameString(path), ...body]);
export const nameDecl = (path: string, value: Aml): Aml => [0x08, ...nameString(path), ...value];
export const method = (path: string, args: number, serialized: boolean, ...body: Aml[]): Aml =>
  withPkg([0x14], [nameString(path), [args | (serialized ? 1 << 3 : 0)], ...body]);
export const mutex = (path: string, sync: number): Aml => [0x5b, 0x01, ...nameString(path), sync];
export const processor = (id: number, pblkAddress: number, pblkLength: number, path: string, ...body: Aml[]): Aml =>
  withPkg([0x5b, 0x83], [nameString(path), [id], le(pblkAddress, 4), [pblkLength], ...body]);

export const enum RegionSpace {
  SystemMemory = 0,
  SystemIO = 1,
  PciConfig = 2,
}
export const operationRegion = (path: string, space: RegionSpace, offset: Aml, length: number): Aml => [
  0x5b,
  0x80,
  ...nameString(path),
  space,
  ...offset,
  ...int(length),
];

export const enum FieldAccess {
  Any = 0,
  Byte = 1,
  Word = 2,
  DWord = 3,
}
export const enum FieldUpdate {
  Preserve = 0,
  WriteAsOnes = 1,
  WriteAsZeros = 2,
}
export const field = (region: string, access: FieldAccess, lock: boolean, update: FieldUpdate, ...fields: Aml[]): Aml =>
  withPkg([0x5b, 0x81], [nameString(region), [access | (lock ? 1 << 4 : 0) | (update << 5)], ...fields]);
export const namedField = (seg: string, bits: number): Aml => [...nameSeg(seg), ...pkgLength(bits, false)];
export const reservedField = (bits: number): Aml => [0x00, ...pkgLength(bits, false)];

// ---- data
export const packageOf = (...elements: Aml[]): Aml => withPkg([0x12], [[elements.length], ...elements]);
/** A package of `count` uninitialized elements (ASL's Package (n) {}). */
export const emptyPackage = (count: number): Aml => withPkg([0x12], [[count]]);
export const buffer = (bytes: readonly number[]): Aml => withPkg([0x11], [int(bytes.length), bytes]);
/** A ResourceTemplate: a buffer of resource descriptors closed by the end tag (checksum 0). */
export const resourceTemplate = (...descriptors: Aml[]): Aml => buffer([...cat(descriptors), 0x79, 0x00]);
/** ToUUID("...") as the 16-byte buffer ACPI defines (the first three fields little-endian). */
export function uuid(text: string): Aml {
  const hex = text.replace(/-/g, "");
  const byte = (i: number): number => parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return buffer(order.map(byte));
}

// ---- statements and expressions
const op2dst =
  (op: number) =>
  (a: Aml, b: Aml, target: Aml = NULL_NAME): Aml => [op, ...a, ...b, ...target];
const op2 =
  (op: number) =>
  (a: Aml, b: Aml): Aml => [op, ...a, ...b];
export const store = (value: Aml, target: Aml): Aml => [0x70, ...value, ...target];
export const add = op2dst(0x72);
export const subtract = op2dst(0x74);
export const shiftLeft = op2dst(0x79);
export const shiftRight = op2dst(0x7a);
export const and = op2dst(0x7b);
export const or = op2dst(0x7d);
export const index = op2dst(0x88);
export const toHexString = (value: Aml, target: Aml): Aml => [0x98, ...value, ...target];
export const toBuffer = (value: Aml, target: Aml): Aml => [0x96, ...value, ...target];
export const increment = (target: Aml): Aml => [0x75, ...target];
export const derefOf = (value: Aml): Aml => [0x83, ...value];
export const sizeOf = (value: Aml): Aml => [0x87, ...value];
export const land = op2(0x90);
export const lor = op2(0x91);
export const lnot = (value: Aml): Aml => [0x92, ...value];
export const equal = op2(0x93);
export const lgreater = op2(0x94);
export const lless = op2(0x95);
export const notify = (target: Aml, value: Aml): Aml => [0x86, ...target, ...value];
export const returnValue = (value: Aml): Aml => [0xa4, ...value];
export const breakOp: Aml = [0xa5];
export const ifThen = (predicate: Aml, ...body: Aml[]): Aml => withPkg([0xa0], [predicate, ...body]);
export const elseDo = (...body: Aml[]): Aml => withPkg([0xa1], body);
export const whileDo = (predicate: Aml, ...body: Aml[]): Aml => withPkg([0xa2], [predicate, ...body]);
export const acquire = (mutexName: string, timeout: number): Aml => [0x5b, 0x23, ...nameString(mutexName), ...le(timeout, 2)];
export const release = (mutexName: string): Aml => [0x5b, 0x27, ...nameString(mutexName)];
export const call = (path: string, ...args: Aml[]): Aml => [...nameString(path), ...cat(args)];
export const createDWordField = (source: Aml, byteIndex: Aml, path: string): Aml => [0x8a, ...source, ...byteIndex, ...nameString(path)];

// ---- resource descriptors (ACPI 6.x section 6.4)
export const io = (min: number, max: number, align: number, length: number): Aml => [0x47, 1, ...le(min, 2), ...le(max, 2), align, length];
export const irqNoFlags = (irq: number): Aml => [0x22, ...le(1 << irq, 2)];
export const dma = (channel: number): Aml => [0x2a, 1 << channel, 0]; // compatibility, not bus master, 8-bit
export const memory32Fixed = (base: number, length: number, readWrite: boolean): Aml => [
  0x86,
  9,
  0,
  readWrite ? 1 : 0,
  ...le(base, 4),
  ...le(length, 4),
];
/** Extended interrupt, consumer, level, active high, shared (the PCI link devices' kind). */
export const sharedLevelInterrupt = (...irqs: number[]): Aml => [
  0x89,
  ...le(2 + 4 * irqs.length, 2),
  0x09,
  irqs.length,
  ...irqs.flatMap((i) => le(i, 4)),
];

/** Address space descriptor flags: producer, positive decode, min and max fixed. */
const FIXED_RANGE = 0x0c;
export const wordBusNumber = (min: number, max: number): Aml => [
  0x88,
  ...le(13, 2),
  2,
  FIXED_RANGE,
  0,
  ...[0, min, max, 0, max - min + 1].flatMap((w) => le(w, 2)),
];
/** WordIO over the entire range (ISA and non-ISA). */
export const wordIo = (min: number, max: number): Aml => [
  0x88,
  ...le(13, 2),
  1,
  FIXED_RANGE,
  3,
  ...[0, min, max, 0, max - min + 1].flatMap((w) => le(w, 2)),
];
export const enum Cacheable {
  No = 0,
  Yes = 1,
}
export const dwordMemory = (cacheable: Cacheable, min: number, max: number): Aml => [
  0x87,
  ...le(23, 2),
  0,
  FIXED_RANGE,
  (cacheable << 1) | 1,
  ...[0, min, max, 0, max - min + 1].flatMap((d) => le(d, 4)),
];
export const qwordMemory = (cacheable: Cacheable, min: bigint, max: bigint): Aml => [
  0x8a,
  ...le(43, 2),
  0,
  FIXED_RANGE,
  (cacheable << 1) | 1,
  ...[0n, min, max, 0n, max - min + 1n].flatMap((q) => le(q, 8)),
];

/** A table's AML body as bytes. */
export const encode = (...terms: Aml[]): Uint8Array => Uint8Array.from(cat(terms));
