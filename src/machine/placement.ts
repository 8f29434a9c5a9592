import { MachbusError, isMachbusError } from "../errors.js";
import type { PciBus } from "../pci/bus.js";
import type { PciFunction } from "../pci/function.js";
import type { Placement, PlannedDevice, SlotRequest } from "./allocator.js";
import { parseDeviceSpec, type DeviceSpec } from "./device-spec.js";
import { types } from "./properties.js";

/**
 * The engine's check of what an allocation policy answers (its own code or a user's): the
 * shape of the answer here, then the bus's own rules (slot exists, free, allowed by the board,
 * multifunction) in checkOnBus. Every refusal names the policy, so a broken policy is found at once.
 */
export interface CheckedPlacement {
  /** Devices to plug first, each with its own address. */
  readonly add: DeviceSpec[];
  /** The bus to place on by name, or null for the requested bus. */
  readonly bus: string | null;
  readonly devfn: number;
}

function refused(policy: string, request: SlotRequest, what: string, why: string): MachbusError {
  return new MachbusError("allocator-invalid", `allocation policy '${policy}' ${what} for ${deviceName(request)}: ${why}`);
}

function deviceName(request: Pick<SlotRequest, "driver" | "id">): string {
  return request.id ? `${request.driver} (id ${request.id})` : request.driver;
}

export function checkPlacementShape(policy: string, request: SlotRequest, answer: Placement): CheckedPlacement {
  const plan = typeof answer === "number" ? { devfn: answer } : answer;
  if (plan === null || typeof plan !== "object") {
    throw refused(policy, request, `answered ${String(answer)}`, "neither a devfn nor a placement plan");
  }
  const { devfn } = plan;
  if (typeof devfn !== "number" || !Number.isInteger(devfn) || devfn < 0 || devfn > 255) {
    throw refused(policy, request, `returned devfn ${String(devfn)}`, "not a devfn (0-255: slot * 8 + function)");
  }
  if (plan.bus !== undefined && typeof plan.bus !== "string") {
    throw refused(policy, request, `returned bus ${String(plan.bus)}`, "not a bus name");
  }
  const add = (plan.add ?? []).map((text) => {
    let spec: DeviceSpec;
    try {
      spec = parseDeviceSpec(String(text));
    } catch (e) {
      throw isMachbusError(e) ? refused(policy, request, `asked to add '${String(text)}'`, e.message) : e;
    }
    if (!spec.props.some(([k]) => k === "addr")) {
      throw refused(policy, request, `asked to add '${String(text)}'`, "no addr= (a policy places what it adds)");
    }
    return { ...spec, addedBy: policy, where: `allocation policy '${policy}' adding ${String(text)}` };
  });
  return { add, bus: plan.bus ?? null, devfn };
}

/** The bus's rules for the chosen devfn, as for an explicit address, with the policy named. */
export function checkOnBus(policy: string, request: SlotRequest, bus: PciBus, fn: PciFunction, devfn: number): void {
  const where = `${(devfn >> 3).toString(16).padStart(2, "0")}.${devfn & 7} on bus ${bus.name}`;
  if (devfn < bus.devfnMin) {
    throw refused(policy, request, `chose ${where}`, `below the bus's first automatic devfn ${bus.devfnMin}`);
  }
  try {
    bus.checkPlug(fn, devfn);
  } catch (e) {
    if (!isMachbusError(e)) throw e;
    throw refused(policy, request, `chose ${where}`, e.message);
  }
}

/** What `prepare` sees of a device spec: driver, id, bus and explicit address (null when absent or malformed). */
export function plannedDevice(spec: DeviceSpec): PlannedDevice {
  const addr = spec.props.find(([k]) => k === "addr")?.[1];
  const parsed = addr === undefined ? null : types.pciDevfn.parse(addr);
  return {
    driver: spec.driver,
    id: spec.id,
    bus: spec.bus,
    devfn: parsed && "value" in parsed && parsed.value >= 0 ? parsed.value : null,
  };
}
