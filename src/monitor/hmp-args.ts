/**
 * HMP command-line parsing, byte-for-byte compatible with QEMU 7.2's human monitor for the
 * commands machbus supports (`i`, `o`, `info`, `device_add`, `device_del`, `savevm`, `loadvm`,
 * `quit`/`q`, `help`/`?`, `system_reset`).
 *
 * Pure and browser-safe: no Node imports, no I/O. A parse either yields a typed command or the
 * exact text QEMU's monitor prints for that line (error message plus the `Try "help …"` hint).
 *
 * Behaviour reproduced from QEMU (monitor/hmp.c, monitor/misc.c, util/qemu-option.c), checked
 * against the real qemu-system-x86_64 7.2 through `human-monitor-command`:
 *
 * - The line is handled as bytes (UTF-8). Whitespace is C `isspace` (space, \t \n \v \f \r).
 *   A command name ends at whitespace, `/` or the end (`i/w 0xcfc` is `i /w 0xcfc`).
 * - `unknown command: '…'` quotes the line from its very first byte (leading blanks included)
 *   up to the end of the unknown name; for `info foo` that is `'info foo'`.
 * - Argument errors are followed by `Try "help X" for more information`, where X is the line from
 *   its first byte up to the end of the command name (again leading blanks included).
 * - `/fmt` is `/[count][format letters][size letters]`, letters in any order, the last of a kind
 *   wins: formats `x d u o c i`, sizes `b`=1 `h`=2 `w`=4 `g`/`L`=8. Anything else is
 *   `invalid char in format: 'c'`. The format and size are monitor state: a command without
 *   `/fmt`, or with `/fmt` lacking that part, reuses them (initially `x` and 4). With format `i`
 *   no size is remembered and a missing size is -1 (the read is then a byte, printed with a
 *   left-justified two-character value: `0x6 `). The state changes as soon as the `/fmt` is read,
 *   even if the rest of the line then fails.
 * - Integer arguments are expressions over signed 64-bit values: `+ -` (lowest), then `& | ^`,
 *   then `* / %`, then unary `+ - ~`, `( )`, `'c'` character constants, `$reg`, and numbers read
 *   by `strtoull(…, 0)` (0x hex, leading-0 octal, decimal; `0b…` is not binary). Blanks are
 *   skipped between tokens, so an expression runs across spaces: `o /w 0xcf8 -1` reads
 *   `0xcf8 -1` = 0xcf7 as the address and then has no value left.
 * - An `i`-type value must fit in 32 bits unsigned (`(val >> 32) & 0xffffffff` must be 0):
 *   `'o' has failed: integer is for 32-bit values`.
 * - `i` takes an optional `.index` (`i /b 0x70.0x0f` writes 0x0f to port 0x70, reads 0x71).
 */

// ---------------------------------------------------------------------------------------------
// Public types

/** QEMU's `/fmt`: count (unused by `i`/`o`), format letter, size in bytes (-1: none, for `/i`). */
export interface HmpFormat {
  count: number;
  format: string;
  size: number;
}

/** The sticky `/fmt` state QEMU keeps between commands. */
export interface HmpFormatDefaults {
  format: string;
  size: number;
}

export type HmpCommandName = "i" | "o" | "info" | "device_add" | "device_del" | "savevm" | "loadvm" | "quit" | "help" | "system_reset";

export type HmpValue = bigint | string | boolean;

export interface HmpParsedCommand {
  ok: true;
  /** Canonical command name (`q` → `quit`, `?` → `help`). */
  command: HmpCommandName;
  /** For `info`: the subcommand (`pci`, `mtree`, …); absent for a bare `info` (print `help("info")`). */
  subcommand?: string;
  /** For `i` / `o`: the effective format after applying the sticky defaults. */
  fmt?: HmpFormat;
  /** Positional values in order (bigints for expressions, strings for words); absent optionals omitted. */
  args: (bigint | string)[];
  /** The same values under QEMU's argument names (`addr`, `val`, `index`, `id`, `name`, `device`, `flatview`…). */
  named: Readonly<Record<string, HmpValue>>;
}

export type HmpParseErrorKind =
  /** Blank line: QEMU prints nothing. */
  "empty" | "unknown-command" | "syntax";

export interface HmpParseError {
  ok: false;
  kind: HmpParseErrorKind;
  /** Exactly what QEMU's monitor prints for the line ("" for a blank line). */
  output: string;
}

export type HmpParseResult = HmpParsedCommand | HmpParseError;

/** An `info` subcommand: QEMU's args_type / params / help strings. */
export interface HmpInfoCommandSpec {
  name: string;
  argsType: string;
  params: string;
  help: string;
}

export interface HmpParserOptions {
  /**
   * `info` subcommands to accept: names from {@link HMP_INFO_COMMANDS} or full specs.
   * Default: `mtree`, `pci`, `qtree`.
   */
  info?: readonly (string | HmpInfoCommandSpec)[];
  /**
   * Resolves `$name` in expressions. QEMU reads CPU registers here; machbus has no CPU, so by
   * default every `$name` is `unknown register`.
   */
  register?: (name: string) => bigint | undefined;
  /** Initial sticky `/fmt` state (QEMU starts with format `x`, size 4). */
  defaults?: HmpFormatDefaults;
}

// ---------------------------------------------------------------------------------------------
// Command tables (QEMU 7.2 hmp-commands.hx / hmp-commands-info.hx)

interface CmdDef {
  /** QEMU's name, alternatives separated by `|` (`quit|q`). */
  name: string;
  canonical: HmpCommandName | string;
  argsType: string;
  params: string;
  help: string;
  sub?: CmdDef[];
}

/** The `info` subcommands machbus knows how to parse, with QEMU 7.2's texts. */
export const HMP_INFO_COMMANDS: readonly HmpInfoCommandSpec[] = [
  {
    name: "history",
    argsType: "",
    params: "",
    help: "show the command line history",
  },
  {
    name: "mtree",
    argsType: "flatview:-f,dispatch_tree:-d,owner:-o,disabled:-D",
    params: "[-f][-d][-o][-D]",
    help:
      "show memory tree (-f: dump flat view for address spaces;" +
      "-d: dump dispatch tree, valid with -f only);" +
      "-o: dump region owners/parents;" +
      "-D: dump disabled regions",
  },
  { name: "name", argsType: "", params: "", help: "show the current VM name" },
  { name: "pci", argsType: "", params: "", help: "show PCI info" },
  { name: "qdm", argsType: "", params: "", help: "show qdev device model list" },
  { name: "qom-tree", argsType: "path:s?", params: "[path]", help: "show QOM composition tree" },
  { name: "qtree", argsType: "", params: "", help: "show device tree" },
  { name: "roms", argsType: "", params: "", help: "show roms" },
  { name: "snapshots", argsType: "", params: "", help: "show the currently saved VM snapshots" },
  {
    name: "status",
    argsType: "",
    params: "",
    help: "show the current VM status (running|paused)",
  },
  { name: "uuid", argsType: "", params: "", help: "show the current VM UUID" },
  { name: "version", argsType: "", params: "", help: "show the version of QEMU" },
];

const DEFAULT_INFO = ["mtree", "pci", "qtree"];

function topLevelCommands(info: CmdDef[]): CmdDef[] {
  // Sorted by name with strcmp, as QEMU sorts its table before use.
  return [
    {
      name: "device_add",
      canonical: "device_add",
      argsType: "device:O",
      params: "driver[,prop=value][,...]",
      help: "add device, like -device on the command line",
    },
    {
      name: "device_del",
      canonical: "device_del",
      argsType: "id:s",
      params: "device",
      help: "remove device",
    },
    { name: "help|?", canonical: "help", argsType: "name:S?", params: "[cmd]", help: "show the help" },
    {
      name: "i",
      canonical: "i",
      argsType: "fmt:/,addr:i,index:i.",
      params: "/fmt addr",
      help: "I/O port read",
    },
    {
      name: "info",
      canonical: "info",
      argsType: "item:s?",
      params: "[subcommand]",
      help: "show various information about the system state",
      sub: info,
    },
    {
      name: "loadvm",
      canonical: "loadvm",
      argsType: "name:s",
      params: "tag",
      help: "restore a VM snapshot from its tag",
    },
    {
      name: "o",
      canonical: "o",
      argsType: "fmt:/,addr:i,val:i",
      params: "/fmt addr value",
      help: "I/O port write",
    },
    { name: "quit|q", canonical: "quit", argsType: "", params: "", help: "quit the emulator" },
    {
      name: "savevm",
      canonical: "savevm",
      argsType: "name:s?",
      params: "tag",
      help: "save a VM snapshot. If no tag is provided, a new snapshot is created",
    },
    {
      name: "system_reset",
      canonical: "system_reset",
      argsType: "",
      params: "",
      help: "reset the system",
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Bytes

const NUL = 0;
const SLASH = 0x2f;
const QUOTE = 0x22;
const APOS = 0x27;
const BACKSLASH = 0x5c;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBytes(s: string): Uint8Array {
  const b = encoder.encode(s);
  const nul = b.indexOf(NUL);
  return nul >= 0 ? b.subarray(0, nul) : b; // a C string ends at its first NUL
}

function text(b: Uint8Array, from = 0, to = b.length): string {
  return decoder.decode(b.subarray(from, to));
}

/** A `%c` of one byte, as QEMU's output shows it (a lone non-ASCII byte becomes U+FFFD). */
function charText(c: number): string {
  return c < 0x80 ? String.fromCharCode(c) : "\uFFFD";
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function digitValue(c: number): number {
  if (isDigit(c)) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x7a) return l - 0x61 + 10;
  return 99;
}

/** Byte at i, or 0 past the end (C string semantics). */
function at(b: Uint8Array, i: number): number {
  return i < b.length ? b[i]! : NUL;
}

function skipSpaces(b: Uint8Array, p: number): number {
  while (isSpace(at(b, p))) p++;
  return p;
}

const GET_STR_MAX = 1023; // QEMU's char buf[1024]

/**
 * QEMU's get_str: a word up to whitespace, or a "quoted string" with \n \r \\ \' \" escapes.
 * Returns undefined on failure (nothing left, unterminated string, bad escape: QEMU reports the
 * latter two on its stdout, not on the monitor).
 */
function getStr(b: Uint8Array, p0: number): { value: Uint8Array; p: number } | undefined {
  const out: number[] = [];
  const put = (c: number) => {
    if (out.length < GET_STR_MAX) out.push(c);
  };
  let p = skipSpaces(b, p0);
  if (at(b, p) === NUL) return undefined;
  if (at(b, p) === QUOTE) {
    p++;
    while (at(b, p) !== NUL && at(b, p) !== QUOTE) {
      if (at(b, p) === BACKSLASH) {
        p++;
        let c = at(b, p);
        p++;
        switch (c) {
          case 0x6e: // n
            c = 0x0a;
            break;
          case 0x72: // r
            c = 0x0d;
            break;
          case BACKSLASH:
          case APOS:
          case QUOTE:
            break;
          default:
            return undefined; // "unsupported escape code" (stdout)
        }
        put(c);
      } else {
        put(at(b, p));
        p++;
      }
    }
    if (at(b, p) !== QUOTE) return undefined; // "unterminated string" (stdout)
    p++;
  } else {
    while (at(b, p) !== NUL && !isSpace(at(b, p))) {
      put(at(b, p));
      p++;
    }
  }
  return { value: Uint8Array.from(out), p };
}

// ---------------------------------------------------------------------------------------------
// Expressions

class ExprError {
  constructor(readonly message: string) {}
}

const U64_MAX = (1n << 64n) - 1n;
const i64 = (v: bigint) => BigInt.asIntN(64, v);

/** glibc strtoull(s, &end, 0) for a string that starts with neither blank nor sign. */
function strtoull(b: Uint8Array, p: number): { value: bigint; end: number; range: boolean } {
  let i = p;
  let base = 10;
  if (at(b, i) === 0x30) {
    if ((at(b, i + 1) | 0x20) === 0x78 && digitValue(at(b, i + 2)) < 16) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  const start = i;
  const bigBase = BigInt(base);
  let value = 0n;
  let range = false;
  while (digitValue(at(b, i)) < base) {
    if (!range) {
      value = value * bigBase + BigInt(digitValue(at(b, i)));
      if (value > U64_MAX) range = true;
    }
    i++;
  }
  if (i === start) return { value: 0n, end: p, range: false };
  return { value: range ? U64_MAX : value, end: i, range };
}

class ExprParser {
  pch: number;
  constructor(
    private readonly b: Uint8Array,
    start: number,
    private readonly register: ((name: string) => bigint | undefined) | undefined,
  ) {
    this.pch = start;
  }

  private cur(): number {
    return at(this.b, this.pch);
  }

  private next(): void {
    if (this.cur() !== NUL) {
      this.pch++;
      this.pch = skipSpaces(this.b, this.pch);
    }
  }

  sum(): bigint {
    let val = this.logic();
    for (;;) {
      const op = this.cur();
      if (op !== 0x2b && op !== 0x2d) return val; // + -
      this.next();
      const val2 = this.logic();
      val = i64(op === 0x2b ? val + val2 : val - val2);
    }
  }

  private logic(): bigint {
    let val = this.prod();
    for (;;) {
      const op = this.cur();
      if (op !== 0x26 && op !== 0x7c && op !== 0x5e) return val; // & | ^
      this.next();
      const val2 = this.prod();
      val = op === 0x26 ? val & val2 : op === 0x7c ? val | val2 : val ^ val2;
    }
  }

  private prod(): bigint {
    let val = this.unary();
    for (;;) {
      const op = this.cur();
      if (op !== 0x2a && op !== 0x2f && op !== 0x25) return val; // * / %
      this.next();
      const val2 = this.unary();
      if (op === 0x2a) {
        val = i64(val * val2);
      } else {
        if (val2 === 0n) throw new ExprError("division by zero");
        // C truncates toward zero, as BigInt does; INT64_MIN / -1 wraps.
        val = i64(op === 0x2f ? val / val2 : val % val2);
      }
    }
  }

  private unary(): bigint {
    const c = this.cur();
    switch (c) {
      case 0x2b: // +
        this.next();
        return this.unary();
      case 0x2d: // -
        this.next();
        return i64(-this.unary());
      case 0x7e: // ~
        this.next();
        return ~this.unary();
      case 0x28: {
        // (
        this.next();
        const n = this.sum();
        if (this.cur() !== 0x29) throw new ExprError("')' expected");
        this.next();
        return n;
      }
      case APOS: {
        this.pch++;
        if (this.cur() === NUL) throw new ExprError("character constant expected");
        const ch = this.cur();
        const n = BigInt(ch >= 0x80 ? ch - 0x100 : ch); // a plain char is signed on x86
        this.pch++;
        if (this.cur() !== APOS) throw new ExprError("missing terminating ' character");
        this.next();
        return n;
      }
      case 0x24: {
        // $
        this.pch++;
        const name: number[] = [];
        for (;;) {
          const d = this.cur();
          if (!(isAlpha(d) || isDigit(d) || d === 0x5f || d === 0x2e)) break;
          if (name.length < 127) name.push(d);
          this.pch++;
        }
        this.pch = skipSpaces(this.b, this.pch);
        const reg = this.register?.(String.fromCharCode(...name));
        if (reg === undefined) throw new ExprError("unknown register");
        return i64(reg);
      }
      case NUL:
        throw new ExprError("unexpected end of expression");
      default: {
        const r = strtoull(this.b, this.pch);
        if (r.range) throw new ExprError("number too large");
        if (r.end === this.pch) throw new ExprError(`invalid char '${charText(c)}' in expression`);
        this.pch = skipSpaces(this.b, r.end);
        return i64(r.value);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// QemuOpts id check (util/qemu-option.c), the only device_add failure at parse time

function idWellFormed(id: Uint8Array): boolean {
  if (!isAlpha(at(id, 0))) return false;
  for (let i = 1; i < id.length; i++) {
    const c = id[i]!;
    if (!isAlpha(c) && !isDigit(c) && c !== 0x2d && c !== 0x2e && c !== 0x5f) return false;
  }
  return true;
}

/** opts_parse_id: the value of the first `id` option (no implied first name). */
function optsParseId(params: Uint8Array): Uint8Array | undefined {
  let p = 0;
  while (p < params.length) {
    let len = 0;
    while (p + len < params.length && params[p + len] !== 0x3d && params[p + len] !== 0x2c) len++;
    let name: Uint8Array;
    let value: Uint8Array;
    if (at(params, p + len) !== 0x3d) {
      // a flag: "foo" is foo=on, "nofoo" is foo=off
      name = params.subarray(p, p + len);
      value = encoder.encode("on");
      if (name[0] === 0x6e && name[1] === 0x6f) {
        name = name.subarray(2);
        value = encoder.encode("off");
      }
      p += len;
    } else {
      name = params.subarray(p, p + len);
      p += len + 1;
      const v: number[] = [];
      for (;;) {
        const c = at(params, p);
        if (c === NUL) break;
        if (c === 0x2c) {
          if (at(params, p + 1) === 0x2c) {
            v.push(0x2c); // ",," is a literal comma
            p += 2;
            continue;
          }
          break;
        }
        v.push(c);
        p++;
      }
      value = Uint8Array.from(v);
    }
    if (at(params, p) === 0x2c) p++;
    if (name.length === 2 && name[0] === 0x69 && name[1] === 0x64) return value; // "id"
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The parser

function cmdMatches(name: string, list: string): boolean {
  return list.split("|").includes(name);
}

interface ArgsOk {
  ok: true;
  fmt?: HmpFormat;
  args: (bigint | string)[];
  named: Record<string, HmpValue>;
}
interface ArgsFail {
  ok: false;
  output: string;
}

export class HmpParser {
  private readonly commands: CmdDef[];
  private readonly register: ((name: string) => bigint | undefined) | undefined;
  private defaultFormat: string;
  private defaultSize: number;

  constructor(options: HmpParserOptions = {}) {
    const info: CmdDef[] = (options.info ?? DEFAULT_INFO).map((entry) => {
      const spec = typeof entry === "string" ? HMP_INFO_COMMANDS.find((c) => c.name === entry) : entry;
      if (!spec) throw new Error(`unknown info subcommand in HmpParser options: ${String(entry)}`);
      return { ...spec, canonical: spec.name };
    });
    info.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.commands = topLevelCommands(info);
    this.register = options.register;
    this.defaultFormat = options.defaults?.format ?? "x";
    this.defaultSize = options.defaults?.size ?? 4;
  }

  /** The sticky `/fmt` state a command without a full `/fmt` will use. */
  get defaults(): HmpFormatDefaults {
    return { format: this.defaultFormat, size: this.defaultSize };
  }

  /** Parses one monitor line as QEMU 7.2 does (updating the sticky `/fmt` state as QEMU would). */
  parse(line: string): HmpParseResult {
    const b = toBytes(line);
    let table = this.commands;
    let cmd: CmdDef | undefined;
    let parent: CmdDef | undefined;

    let p = skipSpaces(b, 0);
    if (at(b, p) === NUL) return { ok: false, kind: "empty", output: "" };

    // monitor_parse_command, including the descent into `info`'s sub-table (entered only when
    // something follows `info`)
    for (;;) {
      const start = p;
      while (at(b, p) !== NUL && at(b, p) !== SLASH && !isSpace(at(b, p))) p++;
      const name = text(b, start, Math.min(p, start + 255));
      const found = table.find((c) => cmdMatches(name, c.name));
      if (!found) {
        return { ok: false, kind: "unknown-command", output: `unknown command: '${text(b, 0, p)}'\n` };
      }
      parent = cmd;
      cmd = found;
      p = skipSpaces(b, p);
      if (found.sub && at(b, p) !== NUL) {
        table = found.sub;
        continue;
      }
      break;
    }

    const argsStart = p;
    const r = this.parseArguments(b, p, cmd);
    if (!r.ok) {
      let end = argsStart;
      while (end > 0 && isSpace(b[end - 1]!)) end--;
      return {
        ok: false,
        kind: "syntax",
        output: `${r.output}Try "help ${text(b, 0, end)}" for more information\n`,
      };
    }

    const result: HmpParsedCommand = parent
      ? {
          ok: true,
          command: parent.canonical as HmpCommandName,
          subcommand: cmd.canonical,
          args: r.args,
          named: r.named,
        }
      : {
          ok: true,
          command: cmd.canonical as HmpCommandName,
          args: r.args,
          named: r.named,
        };
    if (r.fmt) result.fmt = r.fmt;
    return result;
  }

  /** monitor_parse_arguments for the argument types the supported commands use. */
  private parseArguments(b: Uint8Array, p0: number, cmd: CmdDef): ArgsOk | ArgsFail {
    const out: ArgsOk = { ok: true, args: [], named: {} };
    const fail = (output: string): ArgsFail => ({ ok: false, output });
    const t = cmd.argsType;
    let ti = 0;
    let p = p0;

    for (;;) {
      // key_get_info
      if (t[ti] === ",") ti++;
      const colon = t.indexOf(":", ti);
      if (colon < 0) break;
      const key = t.slice(ti, colon);
      ti = colon + 1;
      const c = t[ti] ?? "";
      ti++;

      switch (c) {
        case "s": {
          p = skipSpaces(b, p);
          if (t[ti] === "?") {
            ti++;
            if (at(b, p) === NUL) break;
          }
          const s = getStr(b, p);
          if (!s) return fail(`${cmd.name}: string expected\n`);
          p = s.p;
          const v = text(s.value);
          out.args.push(v);
          out.named[key] = v;
          break;
        }
        case "S": {
          p = skipSpaces(b, p);
          if (t[ti] === "?") {
            ti++;
            if (at(b, p) === NUL) break;
          }
          if (p >= b.length) return fail(`${cmd.name}: string expected\n`);
          const v = text(b, p);
          p = b.length;
          out.args.push(v);
          out.named[key] = v;
          break;
        }
        case "O": {
          p = skipSpaces(b, p);
          if (at(b, p) === NUL) break;
          const s = getStr(b, p);
          if (!s) return fail("");
          p = s.p;
          const id = optsParseId(s.value);
          // qemu_opts_create's complaint goes to stderr, not to the monitor
          if (id !== undefined && !idWellFormed(id)) return fail("");
          const v = text(s.value);
          out.args.push(v);
          out.named[key] = v;
          break;
        }
        case "/": {
          let count: number;
          let format: number;
          let size: number;
          p = skipSpaces(b, p);
          if (at(b, p) === SLASH) {
            p++;
            count = 1;
            if (isDigit(at(b, p))) {
              count = 0;
              while (isDigit(at(b, p))) {
                count = (Math.imul(count, 10) + (at(b, p) - 0x30)) | 0;
                p++;
              }
            }
            size = -1;
            format = -1;
            letters: for (;;) {
              const f = at(b, p);
              switch (f) {
                case 0x6f: // o
                case 0x64: // d
                case 0x75: // u
                case 0x78: // x
                case 0x69: // i
                case 0x63: // c
                  format = f;
                  p++;
                  break;
                case 0x62: // b
                  size = 1;
                  p++;
                  break;
                case 0x68: // h
                  size = 2;
                  p++;
                  break;
                case 0x77: // w
                  size = 4;
                  p++;
                  break;
                case 0x67: // g
                case 0x4c: // L
                  size = 8;
                  p++;
                  break;
                default:
                  break letters;
              }
            }
            if (at(b, p) !== NUL && !isSpace(at(b, p))) {
              return fail(`invalid char in format: '${charText(at(b, p))}'\n`);
            }
            const fmtChar = format < 0 ? this.defaultFormat : String.fromCharCode(format);
            if (fmtChar !== "i") {
              if (size < 0) size = this.defaultSize;
              this.defaultSize = size;
            }
            this.defaultFormat = fmtChar;
            out.fmt = { count, format: fmtChar, size };
          } else {
            const fmtChar = this.defaultFormat;
            out.fmt = { count: 1, format: fmtChar, size: fmtChar !== "i" ? this.defaultSize : -1 };
          }
          break;
        }
        case "i":
        case "l": {
          p = skipSpaces(b, p);
          const mod = t[ti];
          if (mod === "?" || mod === ".") {
            if (mod === "?") {
              if (at(b, p) === NUL) {
                ti++;
                break;
              }
            } else if (at(b, p) === 0x2e) {
              p = skipSpaces(b, p + 1);
            } else {
              ti++;
              break;
            }
            ti++;
          }
          const e = new ExprParser(b, skipSpaces(b, p), this.register);
          let val: bigint;
          try {
            val = e.sum();
          } catch (err) {
            if (err instanceof ExprError) return fail(`${err.message}\n`);
            throw err;
          }
          p = e.pch;
          if (c === "i" && ((val >> 32n) & 0xffffffffn) !== 0n) {
            return fail(`'${cmd.name}' has failed: integer is for 32-bit values\n`);
          }
          out.args.push(val);
          out.named[key] = val;
          break;
        }
        case "-": {
          const tmp = p;
          let skipKey = false;
          const opt = t[ti] ?? "";
          ti++;
          if (opt === "") return fail(`${cmd.name}: unknown type '${c}'\n`);
          p = skipSpaces(b, p);
          if (at(b, p) === 0x2d) {
            p++;
            const given = at(b, p);
            if (opt.charCodeAt(0) !== given) {
              // is_valid_option: is "-<given>" anywhere in the rest of the type string?
              const rest = t.slice(ti);
              const wanted = given === NUL ? "-" : `-${String.fromCharCode(given)}`;
              if (given >= 0x80 || !rest.includes(wanted)) {
                // a NUL here ends QEMU's printf output early: no newline either
                const shown = given === NUL ? "" : `${charText(given)}\n`;
                return fail(`${cmd.name}: unsupported option -${shown}`);
              }
              skipKey = true;
            }
            if (skipKey) {
              p = tmp;
            } else if (t[ti] === "s") {
              ti++;
              const s = getStr(b, skipSpaces(b, p + 1));
              if (!s) return fail(`${cmd.name}: value expected for -${opt}\n`);
              p = s.p;
              const v = text(s.value);
              out.args.push(v);
              out.named[key] = v;
            } else {
              p++;
              out.named[key] = true;
            }
          } else if (t[ti] === "s") {
            ti++;
          }
          break;
        }
        default:
          return fail(`${cmd.name}: unknown type '${c}'\n`);
      }
    }

    p = skipSpaces(b, p);
    if (at(b, p) !== NUL) return fail(`${cmd.name}: extraneous characters at the end of line\n`);
    return out;
  }

  /**
   * What `help [name]` prints (QEMU's help_cmd over the supported commands). `help info` lists
   * the enabled `info` subcommands. Unknown names print `unknown command: '…'`; a name QEMU's
   * tokenizer rejects (unterminated quote, more than 16 words) prints nothing. Not reproduced:
   * QEMU's special case `help log` (its list of TCG log items); here it is an unknown command.
   */
  help(name?: string): string {
    const args: string[] = [];
    if (name !== undefined) {
      const b = toBytes(name);
      let p = 0;
      for (;;) {
        p = skipSpaces(b, p);
        if (at(b, p) === NUL) break;
        if (args.length >= 16) return "";
        const s = getStr(b, p);
        if (!s) return "";
        args.push(text(s.value));
        p = s.p;
      }
    }
    return this.helpDump(this.commands, args, 0);
  }

  private helpDump(table: CmdDef[], args: string[], index: number): string {
    const line = (c: CmdDef) =>
      `${args
        .slice(0, index)
        .map((a) => `${a} `)
        .join("")}${c.name} ${c.params} -- ${c.help}\n`;
    if (index >= args.length) return table.map(line).join("");
    const found = table.find((c) => cmdMatches(args[index]!, c.name));
    if (found) return found.sub ? this.helpDump(found.sub, args, index + 1) : line(found);
    return `unknown command: '${args.slice(0, index + 1).join(" ")}'\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Port I/O helpers (monitor/misc.c hmp_ioport_read / hmp_ioport_write)

export type IoAccessSize = 1 | 2 | 4;

export interface HmpPortRead {
  kind: "read";
  /** The port read (QEMU masks to 16 bits: `i /w 0x10000` reads port 0). */
  port: number;
  /** Bytes read: 2 and 4 as asked; anything else (1, 8, or -1 from `/i`) reads a byte. */
  size: IoAccessSize;
  /** The `/fmt` size, which sets the printed width (see {@link formatPortRead}). */
  fmtSize: number;
  /** For `i addr.index`: the byte written to `addr` before reading `addr + 1`. */
  select?: { port: number; value: number };
}

export interface HmpPortWrite {
  kind: "write";
  /** The port written (masked to 16 bits, as QEMU does). */
  port: number;
  size: IoAccessSize;
  /** The value as the access carries it (truncated to `size` bytes: `o /b 0xcf9 0x1ff` writes 0xff). */
  value: number;
}

export type HmpPortAccess = HmpPortRead | HmpPortWrite;

function accessSize(fmtSize: number): IoAccessSize {
  return fmtSize === 2 ? 2 : fmtSize === 4 ? 4 : 1;
}

/** Which port access an `i` or `o` command performs; undefined for any other command. */
export function portAccess(cmd: HmpParsedCommand): HmpPortAccess | undefined {
  if (cmd.command !== "i" && cmd.command !== "o") return undefined;
  const fmtSize = cmd.fmt?.size ?? 1;
  const size = accessSize(fmtSize);
  const addr = Number(BigInt.asIntN(32, cmd.named["addr"] as bigint)); // C int
  if (cmd.command === "o") {
    const val = cmd.named["val"] as bigint;
    return {
      kind: "write",
      port: addr & 0xffff,
      size,
      value: Number(BigInt.asUintN(size * 8, val)),
    };
  }
  const index = cmd.named["index"];
  if (typeof index === "bigint") {
    return {
      kind: "read",
      port: ((addr + 1) | 0) & 0xffff,
      size,
      fmtSize,
      select: { port: addr & 0xffff, value: Number(index & 0xffn) },
    };
  }
  return { kind: "read", port: addr & 0xffff, size, fmtSize };
}

/**
 * The line QEMU prints for an `i` result: `port%c[0x%04x] = 0x%0*x\n` with suffix b/w/l by
 * access size and width `fmtSize * 2`, so `/g` pads a byte to 16 digits and `/i` (size -1)
 * left-justifies it in 2 columns (`0x6 `).
 */
export function formatPortRead(port: number, fmtSize: number, value: number | bigint): string {
  const size = accessSize(fmtSize);
  const suffix = size === 1 ? "b" : size === 2 ? "w" : "l";
  const v = BigInt.asUintN(size * 8, BigInt(value)).toString(16);
  const width = fmtSize * 2;
  const digits = width >= 0 ? v.padStart(width, "0") : v.padEnd(-width, " ");
  return `port${suffix}[0x${(port & 0xffff).toString(16).padStart(4, "0")}] = 0x${digits}\n`;
}

/** machbus's own rule (QEMU wraps instead): a port above 0xffff is an error. Message ends in \n. */
export function checkPortAddress(addr: bigint | number): string | undefined {
  const a = BigInt(addr);
  if (a >= 0n && a <= 0xffffn) return undefined;
  const shown = a < 0n ? `-0x${(-a).toString(16).padStart(4, "0")}` : `0x${a.toString(16).padStart(4, "0")}`;
  return `port ${shown} is out of range (0x0000-0xffff)\n`;
}

/**
 * The range check for a parsed `i`/`o`: the typed address, and for `i addr.index` also the data
 * port `addr + 1`. Undefined when every port is within 0x0000-0xffff (or the command is not i/o).
 */
export function portRangeError(cmd: HmpParsedCommand): string | undefined {
  if (cmd.command !== "i" && cmd.command !== "o") return undefined;
  const addr = cmd.named["addr"] as bigint;
  const err = checkPortAddress(addr);
  if (err !== undefined) return err;
  if (cmd.command === "i" && typeof cmd.named["index"] === "bigint") return checkPortAddress(addr + 1n);
  return undefined;
}
