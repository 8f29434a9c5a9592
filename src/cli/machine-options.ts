import { CommanderError, type Command } from "commander";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import {
  Machine,
  MachbusError,
  builtinDrivers,
  builtinMachineTypes,
  isMachbusError,
  parseNetdevOption,
  type MachineOptions,
} from "../index.js";
import { parseOptionList } from "../machine/device-spec.js";
import { own } from "../own.js";
import { formatPolicyHelp } from "../machine/allocation-policy.js";
import { builtinPolicies } from "../machine/policies/index.js";
import { deviceHelp } from "../monitor/device-help.js";
import { machineOptionsFromConfig, parseHostConfig, parseMachineConfig } from "../state/machine-config.js";

/** The options every machine-building command takes, QEMU's names in brackets. */
export function addMachineOptions(cmd: Command): Command {
  return cmd
    .hook("preAction", answerDeviceHelp)
    .option("-M, --machine <type>", "machine type or alias, with options: pc, pc-qemu-0.10, pc,ecam=0xb0000000 [-machine]")
    .option(
      "--device <spec>",
      "add a device: DRIVER[,KEY=VALUE]... (repeatable; 'help' lists the models, DRIVER,help its properties) [-device]",
      collect,
      [],
    )
    .option(
      "--drive <spec>",
      "a drive: if=none,id=ID,file=PATH (a backend for drive=ID), or if=ide|virtio[,index=N][,media=cdrom] with its device (repeatable) [-drive]",
      collect,
      [],
    )
    .option("--global <setting>", "property default for a driver: DRIVER.PROP=VALUE (repeatable) [-global]", collect, [])
    .option("--vga <type>", "the board's display: std (a VGA device), cirrus (cirrus-vga) or none [-vga]")
    .option("--netdev <spec>", "a host network backend: TYPE,id=ID[,KEY=VALUE]... for netdev=ID (repeatable) [-netdev]", collect, [])
    .option("-m, --memory <size>", "guest RAM size, e.g. 64M or 1G (default 128M)")
    .option(
      "--allocator <policy>",
      "slot-allocation policy for devices without addr=: NAME[,KEY=VALUE]... (default qemu; 'help' lists them)",
    )
    .option("--config <file>", "machine-definition file (YAML or JSON, as dump-config writes); other options add to it")
    .option("--host-config <file>", "host configuration file (drives, network backends) for the machine");
}

/**
 * `-device help` and `-device DRIVER,help`: as QEMU does, the first such --device is answered
 * before anything is built, whatever else the command line holds, and the command stops there
 * with exit status 0 (thrown as Commander's own help is, so main() ends quietly).
 */
function answerDeviceHelp(cmd: Command): void {
  const machine = cmd.opts<MachineCliOptions>().machine;
  if (machine !== undefined && isHelp(parseOptionList(machine, "machine").head ?? "")) {
    process.stdout.write(formatMachineList());
    throw new CommanderError(0, "machbus.machineHelpDisplayed", "(machine help)");
  }
  if (cmd.opts<MachineCliOptions>().allocator?.trim() === "help") {
    process.stdout.write(formatPolicyHelp(builtinPolicies));
    throw new CommanderError(0, "machbus.allocatorHelpDisplayed", "(allocator help)");
  }
  for (const spec of cmd.opts<MachineCliOptions>().device) {
    let help: string | null;
    try {
      help = deviceHelp(spec, builtinDrivers);
    } catch (e) {
      throw isMachbusError(e) ? e.within(`-device ${spec}`) : e;
    }
    if (help === null) continue;
    process.stdout.write(help);
    throw new CommanderError(0, "machbus.deviceHelpDisplayed", "(device help)");
  }
}

export interface MachineCliOptions {
  machine?: string;
  device: string[];
  vga?: string;
  netdev: string[];
  drive: string[];
  global: string[];
  memory?: string;
  allocator?: string;
  config?: string;
  hostConfig?: string;
}

/** Reads a file the user named; a missing or unreadable file is a one-line error. */
export function readUserFile(path: string, what: string): string {
  return new TextDecoder().decode(readUserBytes(path, what));
}

export function readUserBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw fileError(e, path, what);
  }
}

export function writeUserFile(path: string, data: Uint8Array | string, what: string): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw fileError(e, path, what);
  }
}

function fileError(e: unknown, path: string, what: string): MachbusError {
  const code = (e as NodeJS.ErrnoException).code;
  const reason =
    code === "ENOENT"
      ? "no such file or directory"
      : code === "EISDIR"
        ? "is a directory"
        : code === "EACCES"
          ? "permission denied"
          : (e as Error).message;
  return new MachbusError("file-invalid", `${what} ${path}: ${reason}`);
}

/**
 * The machine `machbus run FILE` defined: options every later command builds on (the command
 * line adds to them, as to --config), or a machine the script built itself. `locate` puts an
 * error building it at its place in the script.
 */
export interface ScriptMachine {
  readonly file: string;
  readonly options?: MachineOptions;
  readonly machine?: Machine;
  locate(e: MachbusError): MachbusError;
}

let scriptMachine: ScriptMachine | null = null;

export function useScriptMachine(script: ScriptMachine): void {
  scriptMachine = script;
}

/** Machine options from a config file or a script (if any) plus the command line, which adds to or overrides them. */
export function machineOptions(opts: MachineCliOptions): MachineOptions {
  const host = opts.hostConfig ? parseHostConfig(readUserFile(opts.hostConfig, "host config"), opts.hostConfig) : undefined;
  if (scriptMachine && opts.config) {
    throw new MachbusError("file-invalid", `${scriptMachine.file} defines the machine; --config ${opts.config} cannot be added to it`);
  }
  const base: MachineOptions = opts.config
    ? machineOptionsFromConfig(parseMachineConfig(readUserFile(opts.config, "config"), opts.config), opts.config, host)
    : scriptMachine?.options
      ? { ...scriptMachine.options, ...(host ? { host } : {}) }
      : host
        ? { host }
        : {};
  const netdevs = (opts.netdev ?? []).map(parseNetdevOption);
  if (netdevs.length) {
    const host = base.host ?? {};
    base.host = { ...host, netdevs: [...(host.netdevs ?? []), ...netdevs] };
  }
  const options: MachineOptions = {
    ...base,
    devices: [...vgaDevices(opts.vga), ...(base.devices ?? []), ...opts.device],
    globals: [...(base.globals ?? []), ...opts.global],
    drives: [...(base.drives ?? []), ...opts.drive],
  };
  if (opts.machine !== undefined) options.machine = opts.machine;
  if (opts.memory !== undefined) options.memory = opts.memory;
  options.imageSize = imageSize;
  if (opts.allocator !== undefined) options.allocator = opts.allocator;
  return options;
}

/**
 * QEMU's -vga TYPE as devices: the display QEMU's board creates before any -device (so it takes
 * the first free slot, 02.0 on pc). Types QEMU knows that machbus has no model for are refused.
 */
function vgaDevices(type: string | undefined): string[] {
  if (type === undefined || type === "none") return [];
  const driver = own(VGA_DRIVERS, type);
  if (driver) return [driver];
  if (QEMU_VGA_TYPES.includes(type)) {
    throw new MachbusError("unknown-driver", `-vga ${type}: machbus has no model of that display (it has: std, cirrus, none)`);
  }
  throw new MachbusError("unknown-driver", `unknown vga type: ${type}`);
}

const VGA_DRIVERS: Record<string, string> = { std: "VGA", cirrus: "cirrus-vga" };
/** The other -vga types of QEMU 7.2 (vga_interfaces). */
const QEMU_VGA_TYPES = ["vmware", "qxl", "xenfb", "tcx", "cg3", "virtio"];

/** `-M help` and `machbus machines`: QEMU's list of machine types. */
export function formatMachineList(): string {
  const pad = (s: string): string => s.padEnd(20);
  let out = "Supported machines are:\n";
  const def = builtinMachineTypes.default();
  for (const t of builtinMachineTypes.list()) {
    for (const alias of t.aliases.filter((a) => !a.includes("i440fx") && !/^pc-\d/.test(a))) {
      out += `${pad(alias)} ${t.description} (alias of ${t.name})\n`;
    }
    out += `${pad(t.name)} ${t.description}${t.name === def.name ? " (default)" : ""}\n`;
  }
  out += "\nQEMU's names (pc-i440fx-X.Y, pc-0.10, pc-0.11) select the matching pc-qemu-X.Y type.\n";
  return out;
}

/** QEMU's is_help_option. */
function isHelp(word: string): boolean {
  return word === "help" || word === "?";
}

/** An image's size as QEMU reads it (only the size: no disk is read); unknown for a file that is not there. */
function imageSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

export function buildMachine(opts: MachineCliOptions): Machine {
  if (scriptMachine?.machine) {
    const extra =
      opts.device.length ||
      opts.drive.length ||
      opts.global.length ||
      opts.netdev.length ||
      opts.vga ||
      opts.machine ||
      opts.memory ||
      opts.allocator ||
      opts.config;
    if (extra) throw new MachbusError("file-invalid", `${scriptMachine.file} built the machine itself; machine options cannot change it`);
    return scriptMachine.machine;
  }
  try {
    const m = Machine.create(machineOptions(opts));
    for (const w of m.warnings) process.stderr.write(`machbus: ${w}\n`);
    return m;
  } catch (e) {
    throw scriptMachine && isMachbusError(e) ? scriptMachine.locate(e) : e;
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
