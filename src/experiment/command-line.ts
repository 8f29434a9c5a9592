import { MachbusError } from "../errors.js";
import { own } from "../own.js";

/** A QEMU (or machbus) command line, as the replay workload builds a machine from it. */
export interface CommandLine {
  readonly machine: string | null;
  readonly memory: string | null;
  readonly devices: readonly string[];
  readonly globals: readonly string[];
  readonly drives: readonly string[];
}

/** Options that take a value, in QEMU's and machbus's spellings. */
const VALUE_OPTIONS: Record<string, keyof Omit<CommandLine, "memory"> | "memory"> = {
  "-M": "machine",
  "-machine": "machine",
  "--machine": "machine",
  "-m": "memory",
  "--memory": "memory",
  "-device": "devices",
  "--device": "devices",
  "-global": "globals",
  "--global": "globals",
  "-drive": "drives",
  "--drive": "drives",
};
/** machbus machines have no default devices, so QEMU's -nodefaults changes nothing. */
const NO_OP_FLAGS = new Set(["-nodefaults", "--nodefaults"]);

/** Splits a command line into words as a POSIX shell does for quotes and backslashes (no expansions). */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new MachbusError("spec-syntax", `unterminated ' quote at column ${i + 1}`);
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      let quoted = "";
      for (i++; i < text.length && text[i] !== '"'; i++) quoted += text[i] === "\\" && i + 1 < text.length ? text[++i] : text[i];
      if (i >= text.length) throw new MachbusError("spec-syntax", 'unterminated " quote');
      word = (word ?? "") + quoted;
    } else if (ch === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else word = (word ?? "") + ch;
  }
  if (word !== null) words.push(word);
  return words;
}

/**
 * Reads the machine options of a command line: -M/-machine, -m, -device, -global, -drive (single
 * or double dash), -nodefaults, and a leading program name (qemu-system-x86_64). Anything else is
 * an error naming it, so a replayed line never silently means less than it says.
 */
export function parseCommandLine(text: string): CommandLine {
  const words = splitCommandLine(text);
  const out = {
    machine: null as string | null,
    memory: null as string | null,
    devices: [] as string[],
    globals: [] as string[],
    drives: [] as string[],
  };
  let i = words[0] !== undefined && !words[0].startsWith("-") ? 1 : 0;
  for (; i < words.length; i++) {
    const raw = words[i]!;
    if (NO_OP_FLAGS.has(raw)) continue;
    const eq = raw.startsWith("--") ? raw.indexOf("=") : -1;
    const option = eq > 0 ? raw.slice(0, eq) : raw;
    const key = own(VALUE_OPTIONS, option);
    if (!key) {
      throw new MachbusError(
        "spec-syntax",
        `unknown option '${raw}' (a replayed command line takes -M, -m, -device, -global, -drive, -nodefaults)`,
      );
    }
    const value = eq > 0 ? raw.slice(eq + 1) : words[++i];
    if (value === undefined) throw new MachbusError("spec-syntax", `option '${option}' needs a value`);
    if (key === "machine" || key === "memory") out[key] = value;
    else out[key].push(value);
  }
  return out;
}
