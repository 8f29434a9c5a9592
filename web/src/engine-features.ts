import * as engine from "machbus";
import { FirstFitAllocator, SLOT_ALLOCATOR, type Machine, type MachineOptions, type SlotAllocator } from "machbus";

/**
 * Engine features the page uses when the engine has them. Issue 8 brings a registry of
 * slot-allocation policies (MachineOptions.allocator then takes a spec such as
 * "hotplug-reserve,free=4") and a firmware-like BAR layout; until then the one policy is QEMU's
 * first fit. This file is the only place that knows the difference.
 */
export interface PolicyChoice {
  readonly name: string;
  readonly description: string;
  /** Parameter names the policy takes (NAME,KEY=VALUE...). */
  readonly params: readonly string[];
}

interface PolicyRegistryEngine {
  registeredPolicies(): ReadonlyMap<string, object>;
}

interface LayoutEngine {
  assignBarLayout(machine: Machine): unknown;
}

const POLICY_INFO = Symbol.for("machbus.policyInfo");
const extensions = engine as unknown as Partial<PolicyRegistryEngine & LayoutEngine>;

/** The policies this engine offers, default first. */
export function policyChoices(): PolicyChoice[] {
  if (typeof extensions.registeredPolicies === "function") {
    return [...extensions.registeredPolicies().values()].map((cls) => {
      const info = (cls as Record<symbol, { name: string; description: string; params: Record<string, unknown> } | undefined>)[POLICY_INFO];
      return { name: info?.name ?? "?", description: info?.description ?? "", params: Object.keys(info?.params ?? {}) };
    });
  }
  return [{ name: new FirstFitAllocator().name, description: "QEMU's policy: the first free slot the board allows", params: [] }];
}

/** MachineOptions.allocator for a policy spec ("first-fit", or NAME,KEY=VALUE... with a registry). */
export function allocatorOption(spec: string): MachineOptions["allocator"] {
  if (typeof extensions.registeredPolicies === "function") return spec as unknown as SlotAllocator;
  return new FirstFitAllocator();
}

/** The policy a machine places devices with. */
export function machinePolicy(machine: Machine): string {
  return (machine as { allocatorSpec?: string }).allocatorSpec ?? machine.container.resolve<SlotAllocator>(SLOT_ALLOCATOR).name;
}

/** Programs every BAR and bridge window as firmware would, when the engine can (issue 8's layout). */
export const assignBarLayout: ((machine: Machine) => void) | null =
  typeof extensions.assignBarLayout === "function" ? (m) => void extensions.assignBarLayout!(m) : null;
