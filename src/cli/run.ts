import type { Command } from "commander";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Machine, MachbusError, isMachbusError, type MachineOptions } from "../index.js";
import { checkMachineConfig, machineOptionsFromConfig, parseMachineConfig } from "../state/machine-config.js";
import { readUserFile, useScriptMachine, type ScriptMachine } from "./machine-options.js";

/**
 * `machbus run FILE [command...]` (F22): FILE defines the machine, the command (default `info
 * pci`) runs on it. A YAML or JSON file is a machine-definition file. A script (.ts, .mts, .js,
 * .mjs) default-exports a machine definition or a function of the API returning one (or a
 * Promise of one): MachineOptions as Machine.create takes them, a machine-definition object
 * (`machbus: 1`), or a Machine it built. TypeScript runs without a build step (tsx), with
 * decorators, so a script can define its own devices and policies. Errors point at the script's
 * file and line.
 */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("build the machine a script (.ts, .js) or machine file (.yaml, .json) defines, then run a command on it")
    .argument("<file>", "machine-definition script or file")
    .argument("[command...]", "the machbus command to run on it, with its options (default: info pci)")
    .allowUnknownOption()
    .helpOption("-h, --help", "show this help (after FILE, options belong to the command)")
    .action(async (file: string, command: string[]) => {
      useScriptMachine(await loadMachineDefinition(file));
      await program.parseAsync(command.length ? command : ["info", "pci"], { from: "user" });
    });
}

const SCRIPT_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const CONFIG_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);
const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts"]);
const OPTION_KEYS = [
  "machine",
  "devices",
  "globals",
  "memory",
  "allocator",
  "drivers",
  "policies",
  "host",
  "drives",
  "clock",
  "machineTypes",
];

/** Loads FILE's machine definition; every error names the file, and the line where it can. */
export async function loadMachineDefinition(file: string): Promise<ScriptMachine> {
  const where = relative(process.cwd(), resolve(file)) || file;
  const ext = extname(file).toLowerCase();
  if (CONFIG_EXTENSIONS.has(ext)) {
    const options = machineOptionsFromConfig(parseMachineConfig(readUserFile(file, "config"), where), where);
    return { file: where, options, locate: (e) => e };
  }
  if (!SCRIPT_EXTENSIONS.has(ext)) {
    throw new MachbusError("file-invalid", `${where}: not a machine script or file (.ts, .mts, .js, .mjs, .yaml, .json)`);
  }
  const source = readUserFile(file, "script");
  const url = pathToFileURL(resolve(file)).href;
  const located = (e: unknown): MachbusError => locateError(e, where, url, source);
  if (TS_EXTENSIONS.has(ext)) {
    const { register } = await import("tsx/esm/api");
    register({ tsconfig: tsconfigFor(resolve(file)) });
  }
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (e) {
    throw located(e);
  }
  if (!("default" in module)) {
    throw new MachbusError("file-invalid", `${where}: no default export (export a machine definition, or a function returning one)`);
  }
  let definition = module.default;
  if (typeof definition === "function") {
    try {
      definition = await (definition as (api: unknown) => unknown)(await import("../index.js"));
    } catch (e) {
      throw located(e);
    }
  }
  const locate = (e: MachbusError): MachbusError => locateInSource(e, where, source);
  if (definition instanceof Machine) return { file: where, machine: definition, locate };
  if (definition === null || typeof definition !== "object" || Array.isArray(definition)) {
    throw new MachbusError("file-invalid", `${where}: the default export is ${describe(definition)}, not a machine definition`);
  }
  if ("machbus" in definition) {
    const config = checkMachineConfig(definition, where);
    return { file: where, options: machineOptionsFromConfig(config, where), locate };
  }
  const unknown = Object.keys(definition).filter((k) => !OPTION_KEYS.includes(k));
  if (unknown.length) {
    throw new MachbusError(
      "file-invalid",
      `${where}: the machine definition has unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")} (valid: ${OPTION_KEYS.join(", ")})`,
    );
  }
  return { file: where, options: definition as MachineOptions, locate };
}

/**
 * The compiler settings for a script: its own tsconfig.json (the nearest one above it) if it has
 * one, with the decorators machbus's device models and policies use, for every file the script
 * imports (a tsconfig's options apply only to the files it includes).
 */
function tsconfigFor(script: string): string {
  let base = fileURLToPath(new URL("../../../bin/script-tsconfig.json", import.meta.url));
  for (let dir = dirname(script); ; dir = dirname(dir)) {
    const candidate = join(dir, "tsconfig.json");
    if (existsSync(candidate)) {
      base = candidate;
      break;
    }
    if (dirname(dir) === dir) break;
  }
  const tmp = mkdtempSync(join(tmpdir(), "machbus-script-"));
  process.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
  const config = {
    extends: base,
    compilerOptions: { experimentalDecorators: true, emitDecoratorMetadata: true, useDefineForClassFields: false },
    include: ["/**/*"],
  };
  writeFileSync(join(tmp, "tsconfig.json"), JSON.stringify(config));
  return join(tmp, "tsconfig.json");
}

/**
 * An error while loading or running the script, as "FILE:LINE:COL: message": a TypeScript syntax
 * error from the compiler's location, anything thrown from the script's stack frame in it.
 */
function locateError(e: unknown, where: string, url: string, source: string): MachbusError {
  const err = e instanceof Error ? e : new Error(String(e));
  const compile = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(err.message);
  if (compile) return new MachbusError("script-failed", `${where}:${compile[2]}:${compile[3]}: ${compile[4]}`);
  if ((err as NodeJS.ErrnoException).code === "ERR_REQUIRE_CYCLE_MODULE") {
    return new MachbusError("script-failed", `${where}: outside a package with "type": "module" a .ts script is CommonJS; name it .mts`);
  }
  const path = fileURLToPath(url);
  const frames = [...(err.stack ?? "").matchAll(/(file:\/\/\S+?|\/\S+?):(\d+)(?::(\d+))?\)?$/gm)];
  const frame = frames.find((f) => f[1] === url || f[1] === path);
  const at = frame ? `${where}:${frame[2]}${frame[3] ? `:${frame[3]}` : ""}` : where;
  if (isMachbusError(err)) return frame ? err.within(at) : locateInSource(err, where, source);
  const kind = err.name && err.name !== "Error" ? `${err.name}: ` : "";
  return new MachbusError("script-failed", `${at}: ${kind}${err.message.split("\n")[0]}`);
}

/** A machine built from the script's definition failed: point at the line that names the bad device, if one does. */
function locateInSource(e: MachbusError, where: string, source: string): MachbusError {
  const spec = /^-device (.+)$/.exec(e.context?.split(": ")[0] ?? "")?.[1];
  const line = spec ? source.split("\n").findIndex((l) => l.includes(spec)) : -1;
  return e.within(line >= 0 ? `${where}:${line + 1}` : where);
}

function describe(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "undefined" ? "undefined" : `a ${typeof v}`;
}
