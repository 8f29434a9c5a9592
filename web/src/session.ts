import { Machine, MachbusError, PciDevice, isMachbusError, type MachineOptions, type PciFunction } from "machbus";
import { dumpMachineConfig, dumpedDevices, formatMachineConfig, machineOptionsFromConfig, parseMachineConfig } from "machbus/config";
import { applyBarLayout } from "machbus/layout";
import { allocatorOption } from "./engine-features.js";

/** Where a machine came from: a file, a command line, an example, or `machbus serve`'s options. */
export interface MachineSource {
  readonly title: string;
  readonly options: MachineOptions;
  /** Text for the command-line box, when the source is one. */
  readonly commandLine: string | null;
}

/** What the user did to the machine since it was built; replayed when the policy changes. */
export type Change =
  | { readonly kind: "add"; readonly spec: string }
  | { readonly kind: "remove"; readonly id: string }
  | {
      readonly kind: "write";
      readonly bus: string;
      readonly devfn: number;
      readonly offset: number;
      readonly size: 1 | 2 | 4;
      readonly value: number;
    }
  | { readonly kind: "layout" };

/** A change's outcome in words, for the page's status line. */
export interface Outcome {
  readonly session: Session;
  readonly message: string;
}

/**
 * The machine on the page: built from its source with the chosen allocation policy, then changed
 * the way the monitor changes one (device_add, device_del, guest config writes). Every change is
 * the engine's: it refuses with its own words and leaves the machine as it was.
 */
export class Session {
  private constructor(
    readonly source: MachineSource,
    /** null: the engine's default policy. */
    readonly policy: string | null,
    readonly changes: readonly Change[],
    readonly machine: Machine,
  ) {}

  static start(source: MachineSource, policy: string | null = null): Session {
    return new Session(source, policy, [], build(source, policy));
  }

  static fromFile(name: string, text: string, policy: string | null = null): Session {
    const options = machineOptionsFromConfig(parseMachineConfig(text, name), name);
    return Session.start({ title: name, options, commandLine: null }, policy);
  }

  /** The same source and changes under another policy (refused, naming the change, when one no longer works). */
  withPolicy(policy: string): Session {
    return new Session(this.source, policy, this.changes, replay(this.source, policy, this.changes));
  }

  /** Hot-plugs a device (device_add) and says where the allocator put it. */
  add(spec: string): Outcome {
    const fn = placedFunction(apply(this.machine, { kind: "add", spec }));
    const session = this.with({ kind: "add", spec });
    return { session, message: fn ? `device_add ${spec}: ${where(fn)}` : `device_add ${spec}: added` };
  }

  /**
   * Where `spec` would go, without touching this machine: the same machine rebuilt (source plus
   * changes) takes the device_add. Throws the engine's refusal.
   */
  preview(spec: string): PciFunction | null {
    const copy = replay(this.source, this.policy, this.changes);
    return placedFunction(apply(copy, { kind: "add", spec }));
  }

  /**
   * Removes a device: device_del by id; a device without an id (device_del cannot name it) by
   * rebuilding from the machine's own dump without it, so every other address stays.
   */
  remove(device: PciDevice): Outcome {
    const label = `${device.driver} at ${where(device.function)}`;
    if (device.id !== null) {
      apply(this.machine, { kind: "remove", id: device.id });
      return { session: this.with({ kind: "remove", id: device.id }), message: `device_del ${device.id}: removed ${label}` };
    }
    const config = dumpMachineConfig(this.machine);
    const index = dumpedDevices(this.machine).findIndex((p) => p.device === device);
    if (index < 0) throw new MachbusError("not-hotpluggable", `${label} is part of the board and can't be removed`);
    config.devices = (config.devices ?? []).filter((_, i) => i !== index);
    const title = `${this.source.title} (edited)`;
    const options = machineOptionsFromConfig(config, title);
    const session = Session.start({ title, options, commandLine: null }, this.policy);
    return { session, message: `removed ${label} (it has no id: the machine was rebuilt from its machine file without it)` };
  }

  /** A guest config write to one function, through config cycles where they reach it. */
  write(fn: PciFunction, offset: number, size: 1 | 2 | 4, value: number): Outcome {
    const change: Change = { kind: "write", bus: fn.bus!.name, devfn: fn.devfn, offset, size, value };
    apply(this.machine, change);
    return { session: this.with(change), message: `${describeChange(change)}: done` };
  }

  layout(): Outcome {
    apply(this.machine, { kind: "layout" });
    return { session: this.with({ kind: "layout" }), message: "BARs and bridge windows assigned as firmware does" };
  }

  /** The machine file (what `machbus dump-config` writes). */
  export(format: "yaml" | "json"): string {
    return formatMachineConfig(dumpMachineConfig(this.machine), format);
  }

  private with(change: Change): Session {
    return new Session(this.source, this.policy, [...this.changes, change], this.machine);
  }
}

function build(source: MachineSource, policy: string | null): Machine {
  return Machine.create(policy ? { ...source.options, allocator: allocatorOption(policy) } : source.options);
}

function replay(source: MachineSource, policy: string | null, changes: readonly Change[]): Machine {
  const machine = build(source, policy);
  for (const change of changes) {
    try {
      apply(machine, change);
    } catch (e) {
      throw isMachbusError(e) ? e.within(`${policy ? `with policy ${policy}, ` : ""}${describeChange(change)}`) : e;
    }
  }
  return machine;
}

function apply(machine: Machine, change: Change): unknown {
  switch (change.kind) {
    case "add":
      return machine.addDevice(change.spec);
    case "remove":
      return machine.removeDevice(change.id);
    case "write": {
      const fn = machine.findBus(change.bus).get(change.devfn);
      if (!fn) throw new MachbusError("unknown-device", `no function at ${change.bus} devfn ${change.devfn}`);
      if (reachable(machine, fn)) machine.configWrite(fn.bus!.number, fn.devfn, change.offset, change.size, change.value);
      else fn.write(change.offset, change.value, change.size, fn.space.size);
      return undefined;
    }
    case "layout":
      return applyBarLayout(machine);
  }
}

/** Whether config cycles reach `fn`: its bus has the number the guest gave it and no other bus claims that number first. */
export function reachable(machine: Machine, fn: PciFunction): boolean {
  return machine.rootBus.routing!.functionAt(fn.bus!.number, fn.devfn) === fn;
}

function placedFunction(device: unknown): PciFunction | null {
  return device instanceof PciDevice ? device.function : null;
}

/** "bus pci.0, slot 0x04 function 0 (00:04.0)". */
export function where(fn: PciFunction): string {
  return `bus ${fn.bus!.name}, slot ${fn.devfn >> 3} function ${fn.devfn & 7}`;
}

function describeChange(change: Change): string {
  switch (change.kind) {
    case "add":
      return `device_add ${change.spec}`;
    case "remove":
      return `device_del ${change.id}`;
    case "write":
      return `config write of ${change.size} byte${change.size > 1 ? "s" : ""} 0x${change.value.toString(16)} at 0x${change.offset.toString(16)} of ${change.bus} devfn ${change.devfn}`;
    case "layout":
      return "BAR layout";
  }
}
