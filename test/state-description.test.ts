import { describe, expect, it } from "vitest";
import {
  bool,
  columns,
  describeState,
  f64,
  i32,
  loadState,
  pages,
  saveState,
  sparseU32Array,
  struct,
  table,
  u16,
  u16Array,
  u32,
  u64,
  u8,
  u8Array,
  type StateDescription,
} from "../src/index.js";

/** A register record of every field kind the engine knows. */
interface Regs {
  ctrl: number;
  delta: number;
  features: bigint;
  tick: number;
  on: boolean;
  readonly mac: Uint8Array;
  readonly phy: Uint16Array;
  readonly big: Uint32Array;
  lazy: Uint32Array | null;
  readonly eeprom: { word: number; reading: boolean };
  readonly num: Uint16Array;
  readonly numDefault: Uint16Array;
  readonly addr: Uint32Array;
}

function regs(): Regs {
  return {
    ctrl: 0,
    delta: 0,
    features: 0n,
    tick: 0,
    on: false,
    mac: new Uint8Array(6),
    phy: new Uint16Array(4),
    big: new Uint32Array(1000),
    lazy: null,
    eeprom: { word: 0, reading: false },
    num: Uint16Array.of(256, 256, 0, 0),
    numDefault: Uint16Array.of(256, 256, 0, 0),
    addr: new Uint32Array(8),
  };
}

const REGS = describeState<Regs>({
  name: "regs",
  version: 1,
  fields: [
    u32("ctrl"),
    i32("delta"),
    u64("features"),
    f64("tick"),
    bool("on"),
    u8Array("mac"),
    u16Array("phy"),
    sparseU32Array("big"),
    sparseU32Array("lazy", { lazy: 64 }),
    struct("eeprom", [u16("word"), bool("reading")]),
    table("queues", [
      columns.u16("num", {
        resetFrom: "numDefault",
        check: (n, q, r) => ((n !== 0) !== (r.numDefault[q] !== 0) ? `queue ${q} does not exist` : null),
      }),
      columns.u32("addr", { per: 2 }),
    ]),
  ],
});

function programmed(): Regs {
  const r = regs();
  Object.assign(r, { ctrl: 0xdeadbeef, delta: -5, features: 1n << 40n, tick: 1.5e9, on: true });
  r.mac.set([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  r.phy.set([0x1140, 0x794d, 0x0141, 0x0c20]);
  r.big[3] = 7;
  r.big[999] = 0xffffffff;
  r.lazy = new Uint32Array(64);
  r.lazy[10] = 42;
  r.eeprom.word = 0xbaba;
  r.eeprom.reading = true;
  r.num[1] = 128;
  r.addr.set([0x1000, 0x2], 2);
  return r;
}

/** The record's content as plain values, for comparison. */
const view = (r: Regs) =>
  JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v));

describe("state descriptions: save, check and load from one list of fields", () => {
  it("every field kind comes back exactly: scalars of each width, booleans, arrays, sparse and lazy arrays, structs, tables", () => {
    const src = programmed();
    const dst = regs();
    dst.big[5] = 9; // not in the stream: back to 0
    loadState(REGS, dst, saveState(REGS, src));
    expect(view(dst)).toBe(view(src));
  });

  it("sparse arrays and tables keep only what differs from pristine: a thousand-entry block with two values is a few bytes", () => {
    const r = regs();
    const empty = saveState(REGS, r).length;
    r.big[3] = 7;
    r.big[999] = 1;
    expect(saveState(REGS, r).length - empty).toBe(2 * 8);
    r.num[0] = 64; // a row differs from its own default size
    expect(saveState(REGS, r).length - empty).toBe(2 * 8 + 4 + 2 + 8);
  });

  it("a lazy array with nothing in the stream goes back to null; with entries it is allocated", () => {
    const dst = programmed();
    loadState(REGS, dst, saveState(REGS, regs()));
    expect(dst.lazy).toBeNull();
    loadState(REGS, dst, saveState(REGS, programmed()));
    expect(dst.lazy?.[10]).toBe(42);
  });

  it("a refused value changes nothing, and the error names the state, the field and the value", () => {
    const good = saveState(REGS, programmed());
    const dst = regs();
    dst.ctrl = 1;
    const before = view(dst);
    const at = (bytes: Uint8Array, offset: number, value: number) => {
      const copy = bytes.slice();
      copy[offset] = value;
      return copy;
    };
    // byte layout: u8 count, str "regs", u32 version, u32 length, then u32 ctrl, i32, u64, f64, then the bool
    const boolAt = 1 + 2 + 4 + 4 + 4 + 4 + 4 + 8 + 8;
    expect(() => loadState(REGS, dst, at(good, boolAt, 2), "regs.bin")).toThrow(
      "regs.bin: 'regs' state: field on: 2 is not a boolean (0 or 1)",
    );
    const macCount = boolAt + 1 + 3;
    expect(() => loadState(REGS, dst, at(good, macCount, 7), "regs.bin")).toThrow(
      "'regs' state: field mac: 7 entries in the stream; the device has 6",
    );
    expect(() => loadState(REGS, dst, good.subarray(0, good.length - 3), "regs.bin")).toThrow(
      /^regs\.bin: 'regs' state claims \d+ bytes, more than the \d+ left$/,
    );
    expect(view(dst)).toBe(before);
  });

  it("column checks see the row and the record: a queue the device lacks is refused by name", () => {
    const src = regs();
    src.num[2] = 16;
    expect(() => loadState(REGS, regs(), saveState(REGS, src), "q")).toThrow("q: 'regs' state: queue 2 does not exist");
  });

  it("sparse entries must lie inside the array and increase", () => {
    const d = describeState<{ a: Uint32Array }>({ name: "a", version: 1, fields: [sparseU32Array("a")] });
    const big = { a: new Uint32Array(8) };
    big.a[6] = 1;
    expect(() => loadState(d, { a: new Uint32Array(4) }, saveState(d, big))).toThrow("'a' state: field a: entry 6 is past the device's 4");
    const two = { a: new Uint32Array(8) };
    two.a[1] = two.a[2] = 1;
    const bytes = saveState(d, two);
    // swap the two entries' indices: 2 then 1
    const v = new DataView(bytes.buffer);
    const first = bytes.length - 2 * 8 - 1;
    v.setUint32(first, 2);
    v.setUint32(first + 8, 1);
    expect(() => loadState(d, { a: new Uint32Array(8) }, bytes)).toThrow("field a: entry 1 follows entry 2 (entries must increase)");
  });

  it("paged memory keeps only the pages written, and refuses a page past the target's memory", () => {
    const d = describeState<{ pages: (Uint8Array | undefined)[] }>({ name: "ram", version: 1, fields: [pages("pages", 16)] });
    const src = { pages: new Array<Uint8Array | undefined>(4) };
    src.pages[3] = new Uint8Array(16).fill(7);
    const dst = { pages: new Array<Uint8Array | undefined>(4) };
    dst.pages[0] = new Uint8Array(16);
    loadState(d, dst, saveState(d, src));
    expect(dst.pages[0]).toBeUndefined();
    expect(dst.pages[3]).toEqual(src.pages[3]);
    expect(() => loadState(d, { pages: new Array<Uint8Array | undefined>(2) }, saveState(d, src))).toThrow(
      "'ram' state: field pages: page 3 is past the device's 2",
    );
  });

  describe("versions", () => {
    interface Pm {
      status: number;
      enable: number;
      timer: number;
      legacyTimer: number;
    }
    const v1 = describeState<Pm>({ name: "pm", version: 1, fields: [u16("status"), u16("enable"), u16("legacyTimer")] });
    // Version 2 added `timer` and dropped the 16-bit one: a stream of version 1 still loads.
    const v2 = describeState<Pm>({
      name: "pm",
      version: 2,
      fields: [u16("status"), u16("enable"), u16("legacyTimer", { until: 1 }), u32("timer", { since: 2, default: 0x100 })],
      loaded: (pm, version) => {
        if (version < 2) pm.timer = pm.legacyTimer * 16;
      },
    });
    const pm = (): Pm => ({ status: 0, enable: 0, timer: 0, legacyTimer: 0 });

    it("a field added in version 2 takes its default from a version 1 stream; the load step sees the version", () => {
      const old = saveState(v1, { status: 1, enable: 2, timer: 0, legacyTimer: 3 });
      const dst = { ...pm(), timer: 77 };
      loadState(v2, dst, old);
      expect(dst).toEqual({ status: 1, enable: 2, timer: 48, legacyTimer: 3 });
    });

    it("a stream newer than the description, or older than its minimum, is refused naming both versions", () => {
      expect(() => loadState(v1, pm(), saveState(v2, pm()))).toThrow("'pm' state version 2 is newer than this device's 1");
      const v3 = describeState<Pm>({ name: "pm", version: 3, minimumVersion: 2, fields: [u32("timer")] });
      expect(() => loadState(v3, pm(), saveState(v1, pm()))).toThrow(
        "'pm' state version 1 is older than the oldest this machbus reads (2)",
      );
    });
  });

  describe("sub-sections", () => {
    interface Dev {
      mode: number;
      extra: number;
      readonly table: Uint8Array;
    }
    const withExtra = describeState<Dev>({
      name: "dev",
      version: 1,
      fields: [u8("mode")],
      subsections: [
        describeState<Dev>({ name: "extra", version: 1, needed: (d) => d.extra !== 0, fields: [u32("extra"), u8Array("table")] }),
      ],
    });
    const dev = (extra = 0): Dev => ({ mode: 1, extra, table: new Uint8Array(4).fill(extra ? 9 : 0) });

    it("are written only when needed; absent from the stream, their fields take their defaults", () => {
      expect(saveState(withExtra, dev(5)).length).toBeGreaterThan(saveState(withExtra, dev()).length);
      const dst = dev(5);
      loadState(withExtra, dst, saveState(withExtra, dev()));
      expect(dst).toEqual(dev());
      loadState(withExtra, dst, saveState(withExtra, dev(5)));
      expect(dst).toEqual(dev(5));
    });

    it("one the target does not know is refused, naming it", () => {
      const without: StateDescription<Dev> = describeState<Dev>({ name: "dev", version: 1, fields: [u8("mode")] });
      expect(() => loadState(without, dev(), saveState(withExtra, dev(5)), "s")).toThrow(
        "s: 'dev' state: has sub-section 'extra', which this device does not know",
      );
    });

    it("a bad field inside one is named with its sub-section", () => {
      const small = describeState<Dev>({
        name: "dev",
        version: 1,
        fields: [u8("mode")],
        subsections: [describeState<Dev>({ name: "extra", version: 1, needed: () => true, fields: [u32("extra"), u8Array("table")] })],
      });
      expect(() => loadState(small, { mode: 0, extra: 0, table: new Uint8Array(2) }, saveState(withExtra, dev(5)))).toThrow(
        "'dev' state: sub-section 'extra': field table: 4 entries in the stream; the device has 2",
      );
    });
  });

  it("descriptions that could not be loaded unambiguously are refused when they are written", () => {
    expect(() => describeState<{ a: number }>({ name: "x", version: 1, fields: [u8("a"), u16("a")] })).toThrow(
      "state description 'x': two fields of version 1 are called a",
    );
    expect(() =>
      describeState<{ a: number }>({
        name: "x",
        version: 2,
        fields: [u8("a")],
        subsections: [describeState({ name: "s", version: 1, fields: [] })],
      }),
    ).toThrow("state description 'x': sub-section 's' has no needed test");
    expect(() => describeState<{ a: number }>({ name: "x", version: 1, fields: [u8("a", { since: 2, until: 1 })] })).toThrow(
      "field a is in no version",
    );
  });
});
