import type { Command } from "commander";
import { Machine, type MachineOptions } from "../index.js";

/** The options every machine-building command takes, QEMU's names in brackets. */
export function addMachineOptions(cmd: Command): Command {
  return cmd
    .option("-M, --machine <type>", "machine type or alias, with options: pc, pc-qemu-0.10, pc,ecam=0xb0000000 [-machine]")
    .option("--device <spec>", "add a device: DRIVER[,KEY=VALUE]... (repeatable) [-device]", collect, [])
    .option("--drive <spec>", "host drive backend: if=none,id=ID,file=PATH (repeatable) [-drive]", collect, [])
    .option("--global <setting>", "property default for a driver: DRIVER.PROP=VALUE (repeatable) [-global]", collect, [])
    .option("-m, --memory <size>", "guest RAM size, e.g. 64M or 1G (default 128M)");
}

export interface MachineCliOptions {
  machine?: string;
  device: string[];
  drive: string[];
  global: string[];
  memory?: string;
}

export function buildMachine(opts: MachineCliOptions): Machine {
  const options: MachineOptions = {
    devices: opts.device,
    globals: opts.global,
  };
  if (opts.machine !== undefined) options.machine = opts.machine;
  if (opts.memory !== undefined) options.memory = opts.memory;
  return Machine.create(options);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
