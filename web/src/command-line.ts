import { MachbusError, type MachineOptions } from "machbus";

/**
 * A pasted command line, in machbus's or QEMU's spelling (`-M pc -device e1000,addr=5 -m 64M`,
 * `--device ...`, `qemu-system-x86_64 -nodefaults ...`), as machine options for the engine. The
 * page's counterpart of the CLI's machine options: the same names, and the engine judges the values.
 */
const TAKES_VALUE: Record<string, "machine" | "device" | "drive" | "global" | "memory"> = {
  "-M": "machine",
  "-machine": "machine",
  "--machine": "machine",
  "-device": "device",
  "--device": "device",
  "-drive": "drive",
  "--drive": "drive",
  "-global": "global",
  "--global": "global",
  "-m": "memory",
  "--memory": "memory",
};

/** QEMU options that change nothing machbus models (its pc already has no default devices). */
const IGNORED = new Set(["-nodefaults", "-S", "-no-user-config", "-nographic"]);

export function parseCommandLine(text: string): MachineOptions {
  const words = splitWords(text);
  // A program and its command words (qemu-system-x86_64, npx machbus info pci) come before the options.
  while (words[0] !== undefined && !words[0].startsWith("-")) words.shift();
  const options: MachineOptions & { devices: string[]; drives: string[]; globals: string[] } = { devices: [], drives: [], globals: [] };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (IGNORED.has(word)) continue;
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    const kind = Object.hasOwn(TAKES_VALUE, name) ? TAKES_VALUE[name] : undefined;
    if (!kind) {
      throw new MachbusError(
        "spec-syntax",
        `command line: unknown option '${word}' (valid: -M/--machine, -device/--device, -drive/--drive, -global/--global, -m/--memory)`,
      );
    }
    const value = eq > 0 ? word.slice(eq + 1) : words[++i];
    if (value === undefined) throw new MachbusError("spec-syntax", `command line: ${name} needs a value`);
    if (kind === "machine") options.machine = value;
    else if (kind === "memory") options.memory = value;
    else if (kind === "device") options.devices.push(value);
    else if (kind === "drive") options.drives.push(value);
    else options.globals.push(value);
  }
  return options;
}

/** Shell-style words: blanks separate, single and double quotes group, a backslash escapes. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i]!;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < text.length) {
      const next = text[++i]!;
      if (next !== "\n") word = (word ?? "") + next; // a continued line
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new MachbusError("spec-syntax", `command line: unterminated ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}
