import { isMachbusError } from "../errors.js";
import { planBarLayout } from "../layout/bar-layout.js";
import { freeSlots } from "../machine/allocator.js";
import { parseDeviceSpec } from "../machine/device-spec.js";
import { Machine, type MachineOptions } from "../machine/machine.js";
import { parseCommandLine } from "./command-line.js";
import { addressOf, deviceAddresses, movedDevices, round } from "./metrics.js";
import type { Rng } from "./rng.js";
import { canonicalMachine, type Workload } from "./spec.js";

/**
 * The workload generators. Each drives the real engine (Machine.create, addDevice, removeDevice)
 * with choices drawn from the run's Rng, and reports what happened; the machine's refusals are
 * results, counted, never errors of the run.
 */

export interface RunContext {
  /** Machine type, memory and policy of this run. */
  readonly options: MachineOptions & { readonly machine: string; readonly allocator: string };
  readonly rng: Rng;
  /** Device specs to draw from. */
  readonly pool: readonly string[];
  /** Whether to compare addresses around every operation (the `moved` metric). */
  readonly measureMoves: boolean;
}

export interface WorkloadResult {
  /** The machine at the end, or null when it was refused as a whole (a replayed line). */
  readonly machine: Machine | null;
  /** The machine type a replayed line named (resolved when the machine was built). */
  readonly machineType?: string;
  /** Operations tried: devices asked for at creation plus hotplug operations. */
  readonly ops: number;
  /** churn, growth: the hotplug operations among them (device_add, device_del). */
  readonly hotplugOps?: number;
  /** Devices of the workload present at the end. */
  readonly devices: number;
  readonly refused: number;
  /** The first refusal, as the engine words it (with the device spec or operation). */
  readonly firstError: string | null;
  readonly live?: LiveFigures;
  /** growth: what stopped it. */
  readonly saturatedBy?: "slots" | "layout" | "max";
}

/** What hotplug did to addresses: measured on churn and growth. */
export interface LiveFigures {
  /** Devices whose address changed across an operation (F14 says never). */
  readonly moved: number;
  /** Devices a restart from the machine's command line would put elsewhere; null when the restart is refused. */
  readonly restartMoved: number | null;
  /** restartMoved per hotplug operation (0 without any). */
  readonly restartMovedPerOp: number | null;
  readonly restartRefused: 0 | 1;
  /** device_add of an automatically placed device into a slot a removed device had held. */
  readonly slotReuse: number;
}

export function runWorkload(workload: Workload, ctx: RunContext, index: number): WorkloadResult {
  switch (workload.type) {
    case "mix":
      return mix(ctx, workload);
    case "churn":
      return churn(ctx, workload);
    case "growth":
      return growth(ctx, workload);
    case "replay":
      return replay(ctx, workload.commands[index]!);
  }
}

/** A device of the workload: its spec as the command line gives it, and its id. */
interface Entry {
  readonly spec: string;
  readonly id: string;
  readonly explicit: boolean;
}

/** Makes the run's devices: a driver from the pool, id dN, and with probability `explicit` an addr= free on the bare board. */
class DeviceMaker {
  private n = 0;

  constructor(
    private readonly ctx: RunContext,
    private readonly explicit: number,
  ) {}

  next(): Entry {
    const base = this.ctx.rng.pick(this.ctx.pool);
    const id = `d${this.n++}`;
    let spec = `${base},id=${id}`;
    const explicit = this.explicit > 0 && this.ctx.rng.chance(this.explicit);
    if (explicit) {
      const slots = freeSlots(bareMachine(this.ctx.options).rootBus, parseDeviceSpec(base).driver);
      if (slots.length) spec += `,addr=${this.ctx.rng.pick(slots).toString(16).padStart(2, "0")}`;
    }
    return { spec, id, explicit };
  }
}

const bareMachines = new Map<string, Machine>();

/** The board alone, built once per worker and never changed: where explicit addresses are drawn from. */
function bareMachine(options: RunContext["options"]): Machine {
  const key = `${options.machine}\u0000${String(options.memory)}`;
  let m = bareMachines.get(key);
  if (!m) bareMachines.set(key, (m = Machine.create({ machine: options.machine, memory: options.memory, portDispatch: "search" })));
  return m;
}

interface Tally {
  refused: number;
  firstError: string | null;
}

function refuse(tally: Tally, e: unknown, what: string): void {
  if (!isMachbusError(e)) throw e;
  tally.refused++;
  tally.firstError ??= `${what}: ${e.message}`;
}

/**
 * Machine.create with `entries`, as a user fixes a command line QEMU refuses: the device the
 * engine names is dropped (and counted), and the rest is tried again.
 */
function createDroppingRefused(ctx: RunContext, entries: readonly Entry[], tally: Tally): { machine: Machine; accepted: Entry[] } {
  const accepted = [...entries];
  for (;;) {
    try {
      return { machine: Machine.create({ ...ctx.options, devices: accepted.map((e) => e.spec) }), accepted };
    } catch (e) {
      if (!isMachbusError(e)) throw e;
      const at = accepted.findIndex((x) => e.context === `-device ${x.spec}` || e.context?.startsWith(`-device ${x.spec}: `));
      if (at < 0) throw e;
      tally.refused++;
      tally.firstError ??= e.describe();
      accepted.splice(at, 1);
    }
  }
}

function mix(ctx: RunContext, w: Extract<Workload, { type: "mix" }>): WorkloadResult {
  const maker = new DeviceMaker(ctx, w.explicit);
  const wanted = Array.from({ length: ctx.rng.count(w.devices) }, () => maker.next());
  const tally: Tally = { refused: 0, firstError: null };
  const { machine, accepted } = createDroppingRefused(ctx, wanted, tally);
  return { machine, ops: wanted.length, devices: accepted.length, ...tally };
}

function churn(ctx: RunContext, w: Extract<Workload, { type: "churn" }>): WorkloadResult {
  const maker = new DeviceMaker(ctx, w.explicit);
  const wanted = Array.from({ length: ctx.rng.count(w.initial) }, () => maker.next());
  const tally: Tally = { refused: 0, firstError: null };
  const { machine, accepted } = createDroppingRefused(ctx, wanted, tally);
  const present = [...accepted];
  const operations = ctx.rng.count(w.operations);
  const freed = new Set<string>();
  let moved = 0;
  let slotReuse = 0;
  for (let op = 0; op < operations; op++) {
    const before = ctx.measureMoves
      ? deviceAddresses(
          machine,
          present.map((e) => e.id),
        )
      : null;
    if (present.length === 0 || ctx.rng.chance(w.add)) {
      const entry = maker.next();
      try {
        machine.addDevice(entry.spec);
        present.push(entry);
        if (!entry.explicit && freed.has(addressOf(machine.findDevice(entry.id)!.function))) slotReuse++;
      } catch (e) {
        refuse(tally, e, `device_add ${entry.spec}`);
      }
    } else {
      const at = ctx.rng.int(present.length);
      const entry = present[at]!;
      const address = addressOf(machine.findDevice(entry.id)!.function);
      try {
        machine.removeDevice(entry.id);
        present.splice(at, 1);
        freed.add(address);
      } catch (e) {
        refuse(tally, e, `device_del ${entry.id}`);
      }
    }
    if (before) moved += movedDevices(before, deviceAddresses(machine, before.keys()));
  }
  const live = { moved, ...restart(ctx, machine, present, operations), slotReuse };
  return { machine, ops: wanted.length + operations, hotplugOps: operations, devices: present.length, ...tally, live };
}

function growth(ctx: RunContext, w: Extract<Workload, { type: "growth" }>): WorkloadResult {
  const maker = new DeviceMaker(ctx, 0);
  const machine = Machine.create(ctx.options);
  const present: Entry[] = [];
  const tally: Tally = { refused: 0, firstError: null };
  let saturatedBy: WorkloadResult["saturatedBy"] = "max";
  let moved = 0;
  let ops = 0;
  while (present.length < w.max) {
    const entry = maker.next();
    const before = ctx.measureMoves
      ? deviceAddresses(
          machine,
          present.map((e) => e.id),
        )
      : null;
    ops++;
    try {
      machine.addDevice(entry.spec);
    } catch (e) {
      refuse(tally, e, `device_add ${entry.spec}`);
      saturatedBy = "slots";
      break;
    }
    present.push(entry);
    if (before) moved += movedDevices(before, deviceAddresses(machine, before.keys()));
    if (!planBarLayout(machine).fits) {
      saturatedBy = "layout";
      break;
    }
  }
  const live = { moved, ...restart(ctx, machine, present, ops), slotReuse: 0 };
  return { machine, ops, hotplugOps: ops, devices: present.length, ...tally, live, saturatedBy };
}

/** The machine restarted from its command line (its devices in order, addr= only where given): what moves, or whether it is refused. */
function restart(
  ctx: RunContext,
  live: Machine,
  present: readonly Entry[],
  operations: number,
): Pick<LiveFigures, "restartMoved" | "restartMovedPerOp" | "restartRefused"> {
  let again: Machine;
  try {
    again = Machine.create({ ...ctx.options, devices: present.map((e) => e.spec) });
  } catch (e) {
    if (!isMachbusError(e)) throw e;
    return { restartMoved: null, restartMovedPerOp: null, restartRefused: 1 };
  }
  const ids = present.map((e) => e.id);
  const moved = movedDevices(deviceAddresses(live, ids), deviceAddresses(again, ids));
  return { restartMoved: moved, restartMovedPerOp: operations ? round(moved / operations) : 0, restartRefused: 0 };
}

function replay(ctx: RunContext, line: string): WorkloadResult {
  const cl = parseCommandLine(line);
  const options: MachineOptions = {
    ...ctx.options,
    machine: cl.machine ?? ctx.options.machine,
    memory: cl.memory ?? ctx.options.memory,
    devices: cl.devices,
    globals: cl.globals,
    drives: cl.drives,
  };
  try {
    const machine = Machine.create(options);
    const machineType = cl.machine === null ? undefined : machine.type.name;
    return { machine, machineType, ops: cl.devices.length, devices: cl.devices.length, refused: 0, firstError: null };
  } catch (e) {
    if (!isMachbusError(e)) throw e;
    const machineType = cl.machine === null ? undefined : knownMachine(cl.machine);
    return { machine: null, machineType, ops: cl.devices.length, devices: 0, refused: 1, firstError: e.describe() };
  }
}

/** The canonical name of a line's -M when there is such a type, else the line's text. */
function knownMachine(text: string): string {
  try {
    return canonicalMachine(text);
  } catch {
    return text;
  }
}
